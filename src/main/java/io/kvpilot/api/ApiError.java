package io.kvpilot.api;

import java.time.Duration;
import org.springframework.http.HttpStatus;

/** An error answered in OpenAI's shape {@code {"error": {"message", "type", "param", "code"}}}. */
final class ApiError extends RuntimeException {

    final HttpStatus status;
    final String type;
    final String param;
    final String code;
    final Duration retryAfter;

    ApiError(HttpStatus status, String type, String message, String param, String code, Duration retryAfter) {
        super(message, null, false, false);
        this.status = status;
        this.type = type;
        this.param = param;
        this.code = code;
        this.retryAfter = retryAfter;
    }

    static ApiError invalid(String param, String message) {
        return new ApiError(HttpStatus.BAD_REQUEST, "invalid_request_error", message, param, "invalid_value", null);
    }

    static ApiError unauthorized(String message) {
        return new ApiError(HttpStatus.UNAUTHORIZED, "authentication_error", message, null, "invalid_api_key", null);
    }

    static ApiError forbidden(String message) {
        return new ApiError(HttpStatus.FORBIDDEN, "permission_error", message, null, "insufficient_permissions",
                null);
    }

    /** A framework-level answer of {@code status} (unknown path, wrong method, ...), with a code saying which. */
    static ApiError ofStatus(HttpStatus status, String message) {
        String type = status.is4xxClientError() ? "invalid_request_error" : "server_error";
        String code = switch (status) {
            case NOT_FOUND -> "not_found";
            case METHOD_NOT_ALLOWED -> "method_not_allowed";
            case UNSUPPORTED_MEDIA_TYPE -> "unsupported_media_type";
            case NOT_ACCEPTABLE -> "not_acceptable";
            case PAYLOAD_TOO_LARGE -> "payload_too_large";
            case BAD_REQUEST -> "invalid_value";
            default -> status.is4xxClientError() ? "invalid_request" : "internal_error";
        };
        return new ApiError(status, type, message, null, code, null);
    }

    static ApiError modelNotFound(String model) {
        return new ApiError(HttpStatus.NOT_FOUND, "invalid_request_error", "The model '" + model
                + "' does not exist; GET /v1/models lists the served model", "model", "model_not_found", null);
    }

    /** The JSON body; {@code param} and {@code code} are null when they do not apply. */
    Body body() {
        return new Body(new Detail(getMessage(), type, param, code));
    }

    record Body(Detail error) {}

    record Detail(String message, String type, String param, String code) {}
}
