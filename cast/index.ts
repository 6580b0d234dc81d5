// The cast pipe's public surface: other folders import from here only.
export { CastSender, SENDER_DEFAULTS, type SenderOptions, type SendResult, type ReceiverReport, type SenderProgress } from './sender.ts';
export { CastReceiver, RECEIVER_DEFAULTS, type ReceiverOptions, type ReceiveResult, type ReceiverProgress } from './receiver.ts';
export type { CastInput } from './slice-reader.ts';
export { CastError } from './errors.ts';
export { receiveCommand, sendCommand } from './commands.ts';
