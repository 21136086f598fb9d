package io.kvpilot.engine.template;

/**
 * A chat template that cannot be parsed or cannot render this conversation. The message names the template's line and
 * what went wrong, never a value the conversation supplied, so it can be logged and returned to the client as is
 * (except {@link Kind#RAISED}, whose text the template itself composed).
 */
public final class TemplateException extends IllegalArgumentException {

    /** Why rendering stopped. */
    public enum Kind {
        /** The template text is not valid Jinja. */
        SYNTAX,
        /** The template uses a tag, filter, test, method or global this interpreter refuses or lacks. */
        UNSUPPORTED,
        /** An operation on values of the wrong type, or on an undefined value. */
        TYPE,
        /** The template called {@code raise_exception(message)}. */
        RAISED,
        /** A render limit (loop iterations, output size, nesting depth, time) was reached. */
        LIMIT
    }

    private final Kind kind;

    TemplateException(Kind kind, String message) {
        super(message);
        this.kind = kind;
    }

    static TemplateException at(Kind kind, int line, String message) {
        return new TemplateException(kind, "line " + line + ": " + message);
    }

    public Kind kind() {
        return kind;
    }
}
