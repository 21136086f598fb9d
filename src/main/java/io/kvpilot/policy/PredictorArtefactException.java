package io.kvpilot.policy;

/**
 * A predictor artefact that is missing, unreadable, fails its checksum or does not have the expected shape. The
 * controller catches it and serves its static fallback; the message names the file and what is wrong.
 */
public class PredictorArtefactException extends RuntimeException {

    public PredictorArtefactException(String message) {
        super(message);
    }

    public PredictorArtefactException(String message, Throwable cause) {
        super(message, cause);
    }
}
