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
