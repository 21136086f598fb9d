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
import org.springframework.web.server.MethodNotAllowedException;
import org.springframework.web.server.NotAcceptableStatusException;
import org.springframework.web.server.ResponseStatusException;
import org.springframework.web.server.ServerWebInputException;
import org.springframework.web.server.UnsupportedMediaTypeStatusException;
import org.springframework.web.server.ServerWebExchange;
import org.springframework.web.util.DisconnectedClientHelper;

/** Maps every failure of the API's handlers to OpenAI's error JSON; bad input never becomes a 500. */
@RestControllerAdvice
class ApiErrorHandler {

    private static final org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger(ApiErrorHandler.class);
    private static final String HEALTH_PATH = "/actuator/health/";
    private static final String UNKNOWN_HEALTH_PATH = "'contributor' must not be null";

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

    /**
     * Spring's own answers, in OpenAI's shape with a code: a path no handler maps (404 {@code not_found}), a method
     * the path does not take (405, with {@code Allow}), a body type it does not read (415, with {@code Accept}), an
     * unreadable body. The key filter has let only canonical paths through, so the path is safe to repeat.
     */
    @ExceptionHandler(ResponseStatusException.class)
    ResponseEntity<ApiError.Body> status(ResponseStatusException e, ServerWebExchange exchange) {
        HttpStatus status = HttpStatus.resolve(e.getStatusCode().value());
        status = status == null ? HttpStatus.BAD_REQUEST : status;
        if (status == HttpStatus.NOT_FOUND) {
            return toResponse(notFound(exchange));
        }
        ApiError error = ApiError.ofStatus(status, message(e, status, exchange));
        return ResponseEntity.status(status).contentType(MediaType.APPLICATION_JSON).headers(e.getHeaders())
                .body(error.body());
    }

    /**
     * Anything else is our bug: a 500 in OpenAI's shape, without internals in the message, and one log line without
     * the exception's message (which may quote the request); the stack trace goes to DEBUG, so no request can flood
     * the log. Except a client that hung up: there is nobody to answer, and its response may be committed already
     * (writing an error body into it failed with a second, read-only-headers error). It goes back to WebFlux, which
     * logs lost clients at debug level; the request's sequence was cancelled when its connection closed.
     */
    @ExceptionHandler(Exception.class)
    ResponseEntity<ApiError.Body> unexpected(Exception e, ServerWebExchange exchange) throws Exception {
        if (DisconnectedClientHelper.isClientDisconnectedException(e)) {
            throw e;
        }
        String path = exchange.getRequest().getPath().value();
        if (e instanceof IllegalStateException && path.startsWith(HEALTH_PATH)
                && UNKNOWN_HEALTH_PATH.equals(e.getMessage())) {
            // Spring Boot 4.0's health endpoint asserts where a nested path names no contributor
            // (/actuator/health/foo/bar) instead of answering 404 as it does for /actuator/health/foo.
            return toResponse(notFound(exchange));
        }
        StackTraceElement[] trace = e.getStackTrace();
        log.error("Unexpected {} at {} while handling {} {} (stack trace at DEBUG)", e.getClass().getName(),
                trace.length > 0 ? trace[0] : "?", exchange.getRequest().getMethod(), path);
        log.debug("Unexpected error while handling a request", e);
        return toResponse(new ApiError(HttpStatus.INTERNAL_SERVER_ERROR, "server_error", "Internal server error", null,
                "internal_error", null));
    }

    /** Our own words for Spring's answers, whose reasons name its internals (body types, handler methods). */
    private static String message(ResponseStatusException e, HttpStatus status, ServerWebExchange exchange) {
        String at = exchange.getRequest().getMethod() + " " + exchange.getRequest().getPath().value();
        if (e instanceof UnsupportedMediaTypeStatusException media) {
            return "The request body of " + at + " must be JSON: send 'Content-Type: application/json'"
                    + (media.getContentType() == null ? "" : " (got '" + media.getContentType() + "')");
        }
        if (e instanceof MethodNotAllowedException method) {
            return "Method " + method.getHttpMethod() + " is not allowed at " + exchange.getRequest().getPath().value()
                    + "; allowed: " + method.getSupportedMethods();
        }
        if (e instanceof NotAcceptableStatusException accept) {
            return at + " answers only " + accept.getSupportedMediaTypes() + ", which the request's Accept header "
                    + "excludes";
        }
        if (e instanceof ServerWebInputException) {
            return "The request to " + at + " could not be read";
        }
        return status.getReasonPhrase();
    }

    private static ApiError notFound(ServerWebExchange exchange) {
        return ApiError.ofStatus(HttpStatus.NOT_FOUND, "No endpoint at " + exchange.getRequest().getMethod() + " "
                + exchange.getRequest().getPath().value());
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
