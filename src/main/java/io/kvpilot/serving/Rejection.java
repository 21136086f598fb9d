package io.kvpilot.serving;

import java.time.Duration;

/** A request the serving layer refused before it held any KV; the API maps {@link Reason} to a status code. */
public final class Rejection extends RuntimeException {

    /**
     * Why; the wire names of the first five are the {@code reason} label of {@code kvpilot_admission_rejections_total}.
     * The last two end a request that was admitted: it waited in the queue past its deadline, or the server shut down
     * before it finished.
     */
    public enum Reason {
        QUEUE_FULL,
        RATE_LIMITED,
        TOO_LONG,
        CIRCUIT_OPEN,
        NOT_READY,
        QUEUE_TIMEOUT,
        SHUTTING_DOWN;

        public String wireName() {
            return name().toLowerCase(java.util.Locale.ROOT);
        }
    }

    private final Reason reason;
    private final Duration retryAfter;

    public Rejection(Reason reason, String message, Duration retryAfter) {
        super(message, null, false, false);
        this.reason = reason;
        this.retryAfter = retryAfter;
    }

    public Reason reason() {
        return reason;
    }

    /** How long the client should wait before retrying; {@code null} when retrying cannot help. */
    public Duration retryAfter() {
        return retryAfter;
    }
}
