package io.kvpilot.policy;

/**
 * What one SLO class promises: time to first token and time per output token, in seconds.
 *
 * @param ttftSeconds time to first token; a queue whose oldest request has waited half of it counts as pressure
 * @param tpotSeconds time per output token; a setting whose predicted step time exceeds it is not chosen while
 *     another fits
 */
public record LatencyObjective(double ttftSeconds, double tpotSeconds) {

    public LatencyObjective {
        if (!(ttftSeconds > 0) || !(tpotSeconds > 0)) {
            throw new IllegalArgumentException("latency objectives must be positive: " + ttftSeconds + ", "
                    + tpotSeconds);
        }
    }
}
