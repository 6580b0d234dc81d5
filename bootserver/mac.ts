// MAC addresses in every spelling admins and firmware use, normalised to the one form
// rackcast stores and compares: lower-case, colon-separated ("52:54:00:78:00:10").

const SEPARATED = /^([0-9a-f]{1,2})([:-])([0-9a-f]{1,2})\2([0-9a-f]{1,2})\2([0-9a-f]{1,2})\2([0-9a-f]{1,2})\2([0-9a-f]{1,2})$/i;
const CISCO = /^([0-9a-f]{4})\.([0-9a-f]{4})\.([0-9a-f]{4})$/i;
const BARE = /^[0-9a-f]{12}$/i;

/** "52-54-00-78-00-10", "5254.0078.0010", "525400780010", "52:54:0:78:0:10" -> "52:54:00:78:00:10"; null if not a MAC. */
export function normalizeMac(text: string): string | null {
  const t = text.trim();
  let hex: string;
  const sep = SEPARATED.exec(t);
  if (sep) hex = [sep[1], sep[3], sep[4], sep[5], sep[6], sep[7]].map((o) => o!.padStart(2, '0')).join('');
  else if (CISCO.test(t)) hex = t.replace(/\./g, '');
  else if (BARE.test(t)) hex = t;
  else return null;
  return hex.toLowerCase().replace(/(..)(?!$)/g, '$1:');
}

/** PXELINUX's BOOTIF form: "01-52-54-00-78-00-10" (01 = Ethernet). */
export function bootif(mac: string): string {
  return '01-' + mac.replace(/:/g, '-');
}
