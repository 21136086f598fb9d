package io.kvpilot.engine.template;

import java.time.Duration;

/**
 * What one render may cost. Every loop iteration (and every item a filter walks) counts against
 * {@code maxIterations}; the rendered text may not exceed {@code maxOutputChars}, and all strings the template builds
 * on the way together not sixteen times that; macros may call each other {@code maxCallDepth} deep; and the whole
 * render must finish within {@code timeout}. Reaching any limit is a {@link TemplateException.Kind#LIMIT} error.
 */
public record RenderLimits(long maxIterations, long maxOutputChars, int maxCallDepth, Duration timeout) {

    /** Far above what real chat templates need (they loop once or twice over the messages). */
    public static final RenderLimits DEFAULTS = new RenderLimits(100_000, 4_000_000, 32, Duration.ofSeconds(2));

    public RenderLimits {
        if (maxIterations < 1 || maxOutputChars < 1 || maxCallDepth < 1 || timeout.isNegative() || timeout.isZero()) {
            throw new IllegalArgumentException("render limits must be positive");
        }
    }

    /** These limits with the output allowance raised to hold {@code inputChars} of conversation four times over. */
    public RenderLimits forInput(long inputChars) {
        long needed = Math.min(Long.MAX_VALUE / 64, 4 * inputChars + 1_000_000);
        return needed <= maxOutputChars ? this : new RenderLimits(maxIterations, needed, maxCallDepth, timeout);
    }
}
