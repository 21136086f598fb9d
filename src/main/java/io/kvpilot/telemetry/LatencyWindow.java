package io.kvpilot.telemetry;

/**
 * Latency of the requests of one SLO class that finished within the last {@code windowSeconds}.
 *
 * @param windowSeconds the window's length (e.g. 10 or 60)
 * @param requests requests that finished in the window
 * @param ttftP50Seconds median time to first token, NaN with no requests
 * @param ttftP99Seconds 99th percentile time to first token, NaN with no requests
 * @param tpotP50Seconds median time per output token, NaN with no requests
 * @param tpotP99Seconds 99th percentile time per output token, NaN with no requests
 * @param tokensPerSecond generated tokens per second over the window
 */
public record LatencyWindow(
        double windowSeconds,
        long requests,
        double ttftP50Seconds,
        double ttftP99Seconds,
        double tpotP50Seconds,
        double tpotP99Seconds,
        double tokensPerSecond) {

    public static LatencyWindow empty(double windowSeconds) {
        return new LatencyWindow(windowSeconds, 0, Double.NaN, Double.NaN, Double.NaN, Double.NaN, 0.0);
    }
}
