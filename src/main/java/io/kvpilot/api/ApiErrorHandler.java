package io.kvpilot.api;

import io.kvpilot.serving.EngineFailureException;
import io.kvpilot.serving.InvalidRequestException;
import io.kvpilot.serving.Rejection;
import java.time.Duration;
import org.springframework.http.HttpHeaders;
import org.springframework.http.HttpStatus;
import org.springframework.http.MediaType;
import org.springframework.http.ResponseEntity;
import org.springframework.web.bind.annotation.ExceptionHandler;
import org.springframework.web.bind.annotation.RestControllerAdvice;
import org.springframework.web.server.ResponseStatusException;
import org.springframework.web.util.DisconnectedClientHelper;

/** Maps every failure of the API's handlers to OpenAI's error JSON; bad input never becomes a 500. */
@RestControllerAdvice
class ApiErrorHandler {

    private static final org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger(ApiErrorHandler.class);

    @ExceptionHandler(ApiError.class)
    ResponseEntity<ApiError.Body> apiError(ApiError e) {
        return toResponse(e);
    }

    @ExceptionHandler(Rejection.class)
    ResponseEntity<ApiError.Body> rejection(Rejection r) {
        return toResponse(fromRejection(r));
    }

    @ExceptionHandler(InvalidRequestException.class)
    ResponseEntity<ApiError.Body> invalid(InvalidRequestException e) {
        return toResponse(ApiError.invalid(e.param(), e.getMessage()));
    }

    @ExceptionHandler(EngineFailureException.class)
    ResponseEntity<ApiError.Body> engineFailure(EngineFailureException e) {
        return toResponse(new ApiError(HttpStatus.INTERNAL_SERVER_ERROR, "server_error", e.getMessage(), null,
                "engine_error", null));
    }

    /** Unsupported media type, wrong method, unreadable body: Spring's own 4xx, in OpenAI's shape. */
    @ExceptionHandler(ResponseStatusException.class)
    ResponseEntity<ApiError.Body> status(ResponseStatusException e) {
        HttpStatus status = HttpStatus.resolve(e.getStatusCode().value());
        status = status == null ? HttpStatus.BAD_REQUEST : status;
        String type = status.is4xxClientError() ? "invalid_request_error" : "server_error";
        return toResponse(new ApiError(status, type, e.getReason() != null ? e.getReason() : status.getReasonPhrase(),
                null, null, null));
    }

    /**
     * Anything else is our bug: a 500 in OpenAI's shape, without internals in the message. Except a client that hung
     * up: there is nobody to answer, and its response may be committed already (writing an error body into it failed
     * with a second, read-only-headers error). It goes back to WebFlux, which logs lost clients at debug level; the
     * request's sequence was cancelled when its connection closed.
     */
    @ExceptionHandler(Exception.class)
    ResponseEntity<ApiError.Body> unexpected(Exception e) throws Exception {
        if (DisconnectedClientHelper.isClientDisconnectedException(e)) {
            throw e;
        }
        log.error("Unexpected error while handling a request", e);
        return toResponse(new ApiError(HttpStatus.INTERNAL_SERVER_ERROR, "server_error", "Internal server error", null,
                "internal_error", null));
    }

    static ApiError fromRejection(Rejection r) {
        return switch (r.reason()) {
            case QUEUE_FULL -> new ApiError(HttpStatus.TOO_MANY_REQUESTS, "rate_limit_error", r.getMessage(), null,
                    "queue_full", r.retryAfter());
            case RATE_LIMITED -> new ApiError(HttpStatus.TOO_MANY_REQUESTS, "rate_limit_error", r.getMessage(), null,
                    "rate_limit_exceeded", r.retryAfter());
            case TOO_LONG -> new ApiError(HttpStatus.PAYLOAD_TOO_LARGE, "invalid_request_error", r.getMessage(),
                    null, "context_length_exceeded", null);
            case CIRCUIT_OPEN -> new ApiError(HttpStatus.SERVICE_UNAVAILABLE, "server_error", r.getMessage(), null,
                    "circuit_open", r.retryAfter());
            case NOT_READY -> new ApiError(HttpStatus.SERVICE_UNAVAILABLE, "server_error", r.getMessage(), null,
                    "not_ready", Duration.ofSeconds(5));
            case QUEUE_TIMEOUT -> new ApiError(HttpStatus.SERVICE_UNAVAILABLE, "server_error", r.getMessage(), null,
                    "queue_timeout", r.retryAfter());
            case SHUTTING_DOWN -> new ApiError(HttpStatus.SERVICE_UNAVAILABLE, "server_error", r.getMessage(), null,
                    "shutting_down", r.retryAfter());
        };
    }

    static ResponseEntity<ApiError.Body> toResponse(ApiError e) {
        ResponseEntity.BodyBuilder builder = ResponseEntity.status(e.status).contentType(MediaType.APPLICATION_JSON);
        if (e.retryAfter != null) {
            builder.header(HttpHeaders.RETRY_AFTER, retryAfterSeconds(e.retryAfter));
        }
        return builder.body(e.body());
    }

    static String retryAfterSeconds(Duration d) {
        return Long.toString(Math.max(1, (d.toMillis() + 999) / 1000));
    }
}
