import { DecodeError } from '../errors.ts';
import { decodeConnectReply, decodeConnectReq, type ConnectReply, type ConnectReq } from './connect.ts';
import { decodeOk, decodeRetransmit, type Disconnect, type Go, type Ok, type Retransmit } from './control.ts';
import { decodeData, decodeFec, type Data, type Fec } from './data.ts';
import { decodeHello, type Hello } from './hello.ts';
import { Op } from './opcodes.ts';
import { need, opName, view } from './read.ts';
import { decodeReqAck, type ReqAck } from './reqack.ts';

export * from './bitmap.ts';
export * from './connect.ts';
export * from './control.ts';
export * from './data.ts';
export * from './hello.ts';
export * from './opcodes.ts';
export * from './reqack.ts';
export { opName } from './read.ts';

/** What a sender may receive. */
export type ReceiverMessage = ConnectReq | Go | Disconnect | Ok | Retransmit;
/** What a receiver may receive. */
export type SenderMessage = Hello | ConnectReply | Data | Fec | ReqAck;
export type CastMessage = ReceiverMessage | SenderMessage;

/** Decodes a datagram a receiver sent; throws DecodeError for anything else. */
export function decodeFromReceiver(buf: Uint8Array): ReceiverMessage {
  need(buf, 4, 'message');
  const op = view(buf).getUint16(0);
  switch (op) {
    case Op.CONNECT_REQ:
      return decodeConnectReq(buf);
    case Op.GO:
      return { op: Op.GO };
    case Op.DISCONNECT:
      return { op: Op.DISCONNECT };
    case Op.OK:
      return decodeOk(buf);
    case Op.RETRANSMIT:
      return decodeRetransmit(buf);
    default:
      throw new DecodeError('OPCODE', `unexpected opcode ${opName(op)} from a receiver`, { op });
  }
}

/** Decodes a datagram a sender sent; throws DecodeError for anything else. */
export function decodeFromSender(buf: Uint8Array): SenderMessage {
  need(buf, 4, 'message');
  const op = view(buf).getUint16(0);
  switch (op) {
    case Op.DATA:
      return decodeData(buf);
    case Op.REQACK:
      return decodeReqAck(buf);
    case Op.FEC:
      return decodeFec(buf);
    case Op.HELLO:
    case Op.HELLO_NEW:
    case Op.HELLO_STREAMING:
      return decodeHello(buf);
    case Op.CONNECT_REPLY:
      return decodeConnectReply(buf);
    default:
      throw new DecodeError('OPCODE', `unexpected opcode ${opName(op)} from a sender`, { op });
  }
}
export { formatMessage } from './format.ts';
