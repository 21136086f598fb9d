package io.kvpilot.engine;

/** A checkpoint cannot be loaded; the message names the file or tensor at fault and what is wrong with it. */
public final class CheckpointException extends RuntimeException {

    public CheckpointException(String message) {
        super(message);
    }

    public CheckpointException(String message, Throwable cause) {
        super(message, cause);
    }
}
