export { type AttemptFields, attemptFields, storableText } from "./attempt-fields.ts";
export { buildEnvelope } from "./envelope.ts";
export {
  assertSendableHeaders,
  buildHeaders,
  customHeaderProblems,
  type HeaderProblem,
  InvalidHeaderError,
  MAX_CUSTOM_HEADERS,
  RESERVED_HEADERS,
  USER_AGENT,
} from "./headers.ts";
export {
  createDeliveryClient,
  type DeliveryClient,
  type DeliveryClientOptions,
  type OutgoingRequest,
  RESPONSE_BODY_LIMIT,
} from "./http-client.ts";
export {
  classifyError,
  classifyResponse,
  ERROR_KINDS,
  type ErrorKind,
  interruptedOutcome,
  type Outcome,
  parseRetryAfter,
} from "./outcome.ts";
export { generateSecret, isValidSecret, type SignedRequest, sign, type Verification, verify } from "./signing.ts";
export { addressRange, BlockedTargetError, checkWebhookUrl, isPublicAddress, literalAddress } from "./target-guard.ts";
