export { RestClient } from "./client";
export { RestError, OrgResolutionError, ClientClosedError, hintForStatus, parseErrorBody } from "./errors";
export type { FieldFailure, OrgSummary, RestErrorDetails, AuthKind } from "./errors";
export { resolveOrg, CookieJar } from "./session";
export type { SessionInfo, SessionOrg } from "./session";
export { updateObject, patchObject, mergeChange, containsChange, deepEqual } from "./objects";
export type {
    PlatformObject,
    UpdateObjectOptions,
    UpdateResult,
    PatchObjectOptions,
    PatchChange,
    PatchRequestBody,
    PatchStatus,
    PatchResult,
} from "./objects";
export { uploadAttachment, createArtifact, buildMultipart } from "./files";
export type { UploadAttachmentOptions, AttachmentInfo, CreateArtifactOptions, ArtifactInfo, MultipartPart } from "./files";
export { TransportFailure, RequestTimeoutError, ResponseTooLargeError, describeFailure, sendAttempt } from "./transport";
export type { AttemptRequest, RawResponse, FailureInfo } from "./transport";
export type {
    ApiKeyAuth,
    PasswordAuth,
    RestLogger,
    RestClientOptions,
    RestMethod,
    HandleFormat,
    QueryValue,
    RestRequest,
    RestResponse,
} from "./types";
