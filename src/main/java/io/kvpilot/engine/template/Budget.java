package io.kvpilot.engine.template;

import io.kvpilot.engine.template.TemplateException.Kind;

/** One render's spending against its {@link RenderLimits}. */
final class Budget {

    private final RenderLimits limits;
    private final long deadline;
    private long iterations;
    private long built;
    private int depth;

    Budget(RenderLimits limits) {
        this.limits = limits;
        this.deadline = System.nanoTime() + limits.timeout().toNanos();
    }

    void iterate(int line) {
        if (++iterations > limits.maxIterations()) {
            throw TemplateException.at(Kind.LIMIT, line, "more than " + limits.maxIterations() + " loop iterations");
        }
        if ((iterations & 63) == 0) {
            checkTime(line);
        }
    }

    /** A string of {@code length} characters was built. */
    String built(String s, int line) {
        checkLength(s.length(), line);
        built += s.length();
        if (built > 16 * limits.maxOutputChars()) {
            throw TemplateException.at(Kind.LIMIT, line, "the template built more than " + 16 * limits.maxOutputChars()
                    + " characters of strings");
        }
        checkTime(line);
        return s;
    }

    /** {@code count} copies of something {@code size} long would fit (no overflow on the way). */
    void checkRepeat(long size, long count, int line) {
        if (size > 0 && count > limits.maxOutputChars() / size) {
            checkLength(limits.maxOutputChars() + 1, line);
        }
    }

    void checkLength(long length, int line) {
        if (length > limits.maxOutputChars()) {
            throw TemplateException.at(Kind.LIMIT, line, "output longer than " + limits.maxOutputChars()
                    + " characters");
        }
    }

    /** A macro call: counted as a loop iteration too, so that branching recursion is bounded like a loop. */
    void enterCall(int line) {
        iterate(line);
        if (++depth > limits.maxCallDepth()) {
            throw TemplateException.at(Kind.LIMIT, line, "macro calls nested deeper than " + limits.maxCallDepth());
        }
    }

    void exitCall() {
        depth--;
    }

    void checkTime(int line) {
        if (System.nanoTime() - deadline > 0) {
            throw TemplateException.at(Kind.LIMIT, line, "rendering took longer than " + limits.timeout().toMillis()
                    + " ms");
        }
    }
}
