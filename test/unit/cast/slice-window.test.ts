import { afterEach, describe, expect, test } from 'vitest';
import { bitSet, Cap, CAPS_DEFAULT, newBitmap, Op, type Retransmit } from '../../../cast/codec/index.ts';
import { UDPCAST_WINDOW_SLICES, WIDE_WINDOW_SLICES } from '../../../cast/constants.ts';
import { Participants, type Participant } from '../../../cast/participants.ts';
import type { OutSlice } from '../../../cast/slice-reader.ts';
import { SliceWindow, type TxSlice } from '../../../cast/slice-window.ts';

// The sender's window without sockets: which slice may open with udp-receivers or only
// rackcast receivers in the group, and what a RETRANSMIT queues for whom.

const OURS = CAPS_DEFAULT | Cap.GAP_TOLERANT;
const UDP_RECEIVER = CAPS_DEFAULT;
const BLOCKS = 8;

const slice = (no: number, blocks = BLOCKS): OutSlice => ({ no, bytes: blocks * 1456, blocks, packets: Buffer.alloc(0), blockSize: 1456 });
const endMarker = (no: number): OutSlice => ({ no, bytes: 0, blocks: 0, packets: Buffer.alloc(0), blockSize: 1456 });

let window: SliceWindow | null = null;

afterEach(() => window?.close());

function setup(...caps: number[]): { w: SliceWindow; participants: Participants; receivers: Participant[]; completed: number[] } {
  const participants = new Participants();
  const receivers = caps.map((c, i) => participants.add(`10.0.0.${i + 1}`, c, 0, 0)!);
  const completed: number[] = [];
  const w = new SliceWindow(participants, { pump: () => {}, completed: (ts) => completed.push(ts.s.no), unconfirmedSilent: () => {} });
  window = w;
  return { w, participants, receivers, completed };
}

/** Opens slice `no` and sends its whole first pass. */
function sendSlice(w: SliceWindow, no: number): TxSlice {
  expect(w.canOpen(slice(no))).toBe(true);
  w.open(slice(no));
  const ts = w.newest()!;
  w.firstPassSent(ts, ts.s.blocks);
  return ts;
}

function retransmit(ts: TxSlice, lacking: number[]): Retransmit {
  const held = newBitmap();
  for (let b = 0; b < ts.s.blocks; b++) if (!lacking.includes(b)) bitSet(held, b);
  return { op: Op.RETRANSMIT, slice: ts.s.no, rxmit: ts.rounds - 1, held };
}

describe('the window rule', () => {
  test(`rackcast receivers only: ${WIDE_WINDOW_SLICES} slices in flight without any answer, the next once the oldest is confirmed`, () => {
    const { w, receivers, completed } = setup(OURS, OURS);
    for (let no = 0; no < WIDE_WINDOW_SLICES; no++) sendSlice(w, no);
    expect(w.size).toBe(WIDE_WINDOW_SLICES);
    expect(w.canOpen(slice(WIDE_WINDOW_SLICES))).toBe(false);
    for (const p of receivers) w.answer(p, 0, null);
    expect(completed).toEqual([0]);
    expect(w.size).toBe(WIDE_WINDOW_SLICES - 1);
    expect(w.canOpen(slice(WIDE_WINDOW_SLICES))).toBe(true);
  });

  test('with a udp-receiver in the group, slice n+1 waits until it answered for slice n', () => {
    const { w, receivers } = setup(OURS, UDP_RECEIVER);
    const first = sendSlice(w, 0);
    expect(w.canOpen(slice(1))).toBe(false);
    w.reqackSent(first);
    w.answer(receivers[1]!, 0, retransmit(first, [3]));
    expect(w.canOpen(slice(1))).toBe(true);
  });

  test(`with a udp-receiver in the group, at most ${UDPCAST_WINDOW_SLICES} slices are in flight`, () => {
    const { w, receivers } = setup(OURS, UDP_RECEIVER);
    const first = sendSlice(w, 0);
    w.reqackSent(first);
    w.answer(receivers[1]!, 0, retransmit(first, [3]));
    const second = sendSlice(w, 1);
    w.reqackSent(second);
    w.answer(receivers[1]!, 1, null);
    expect(w.canOpen(slice(2))).toBe(false);
    for (const p of receivers) w.answer(p, 0, null);
    expect(w.canOpen(slice(2))).toBe(true);
  });

  test('the next slice waits for the first pass of the one before', () => {
    const { w } = setup(OURS);
    w.open(slice(0));
    w.firstPassSent(w.newest()!, BLOCKS - 1);
    expect(w.canOpen(slice(1))).toBe(false);
    w.firstPassSent(w.newest()!, 1);
    expect(w.canOpen(slice(1))).toBe(true);
  });

  test('the end marker goes alone, after every data slice is confirmed, and nothing follows it', () => {
    const { w, receivers } = setup(OURS);
    sendSlice(w, 0);
    expect(w.canOpen(endMarker(1))).toBe(false);
    w.answer(receivers[0]!, 0, null);
    expect(w.canOpen(endMarker(1))).toBe(true);
    w.open(endMarker(1));
    expect(w.endOpened).toBe(true);
    expect(w.canOpen(slice(2))).toBe(false);
  });
});

describe('answers', () => {
  test('a block only one rackcast receiver lacks is resent to it; one that several lack goes to the group', () => {
    const { w, receivers } = setup(OURS, OURS);
    const ts = sendSlice(w, 0);
    w.reqackSent(ts);
    w.answer(receivers[0]!, 0, retransmit(ts, [1, 2]));
    w.answer(receivers[1]!, 0, retransmit(ts, [2]));
    expect(w.resendDue()).toBe(ts);
    expect(ts.queue).toEqual([1, 2]);
    expect(w.resent(ts)).toBe('10.0.0.1');
    expect(w.resent(ts)).toBeNull();
    expect(w.resendDue()).toBeUndefined();
  });

  test('a block a udp-receiver lacks goes to the group', () => {
    const { w, receivers } = setup(OURS, UDP_RECEIVER);
    const ts = sendSlice(w, 0);
    w.reqackSent(ts);
    w.answer(receivers[1]!, 0, retransmit(ts, [5]));
    expect(w.resent(ts)).toBeNull();
  });

  test('a RETRANSMIT for an older round queues nothing', () => {
    const { w, receivers } = setup(OURS);
    const ts = sendSlice(w, 0);
    w.reqackSent(ts);
    const stale = retransmit(ts, [4]);
    w.reqackSent(ts);
    w.answer(receivers[0]!, 0, stale);
    expect(w.resendDue()).toBeUndefined();
  });

  test('when everyone answered a round with requests, the next REQACK is due at once', () => {
    const { w, receivers } = setup(OURS, OURS);
    const ts = sendSlice(w, 0);
    expect(w.reqackDue()).toBe(ts);
    w.reqackSent(ts);
    expect(w.reqackDue()).toBeUndefined();
    w.answer(receivers[0]!, 0, retransmit(ts, [1]));
    expect(w.reqackDue()).toBeUndefined();
    w.answer(receivers[1]!, 0, null);
    expect(w.reqackDue()).toBe(ts);
    expect(w.reqackPacket(ts).length).toBeGreaterThan(0);
  });

  test('an OK credits the receiver with the slice once, and a receiver owes answers only for slices it has not confirmed', () => {
    const { w, receivers } = setup(OURS, OURS);
    const ts = sendSlice(w, 0);
    expect(w.owedSince(receivers[0]!)).toBe(0);
    w.reqackSent(ts);
    expect(w.owedSince(receivers[0]!)).toBe(ts.firstReqackAt);
    w.answer(receivers[0]!, 0, null);
    w.answer(receivers[0]!, 0, null);
    expect(receivers[0]!.bytesAcked).toBe(ts.s.bytes);
    expect(w.owedSince(receivers[0]!)).toBe(0);
    expect(w.owedSince(receivers[1]!)).toBe(ts.firstReqackAt);
  });

  test('a receiver that leaves no longer holds a slice back', () => {
    const { w, participants, receivers, completed } = setup(OURS, OURS);
    const ts = sendSlice(w, 0);
    w.reqackSent(ts);
    w.answer(receivers[0]!, 0, null);
    expect(completed).toEqual([]);
    participants.setStatus(receivers[1]!, 'dropped', 'test');
    w.recheck();
    expect(completed).toEqual([0]);
  });
});
