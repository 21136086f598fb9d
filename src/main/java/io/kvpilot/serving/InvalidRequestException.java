package io.kvpilot.serving;

/** A request the engine refused as invalid (for example an unknown compression method); the API answers 400. */
public final class InvalidRequestException extends RuntimeException {

    private final String param;

    public InvalidRequestException(String param, String message) {
        super(message, null, false, false);
        this.param = param;
    }

    public String param() {
        return param;
    }
}
