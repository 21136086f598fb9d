package io.kvpilot.engine;

import java.util.List;

/**
 * How the next token is chosen. {@code temperature == 0} means greedy. The same seed with the same prompt and
 * parameters gives the same tokens.
 *
 * @param temperature 0 for greedy, otherwise the softmax temperature (0, 2]
 * @param topP nucleus mass in (0, 1]
 * @param topK keep the k most likely tokens; 0 or less means no limit
 * @param seed random seed; {@code null} picks one
 * @param maxTokens tokens to generate at most, at least 1
 * @param stop strings that end generation (not included in the output)
 * @param ignoreEos keep generating past EOS (benchmarks)
 */
public record SamplingParams(
        double temperature, double topP, int topK, Long seed, int maxTokens, List<String> stop, boolean ignoreEos) {

    /**
     * The smallest temperature above 0: the sampler scales logit gaps by 1/T, which must stay finite (a subnormal T
     * overflows it to infinity). Below this the distribution is greedy in all but name anyway.
     */
    public static final double MIN_TEMPERATURE = 1e-6;

    public SamplingParams {
        if (!(temperature >= 0.0 && temperature <= 2.0) || (temperature > 0.0 && temperature < MIN_TEMPERATURE)) {
            throw new IllegalArgumentException("temperature must be 0 or in [" + MIN_TEMPERATURE + ", 2], got "
                    + temperature);
        }
        if (!(topP > 0.0 && topP <= 1.0)) {
            throw new IllegalArgumentException("top_p must be in (0, 1], got " + topP);
        }
        if (maxTokens < 1) {
            throw new IllegalArgumentException("max_tokens must be at least 1, got " + maxTokens);
        }
        stop = stop == null ? List.of() : List.copyOf(stop);
    }

    public static SamplingParams greedy(int maxTokens) {
        return new SamplingParams(0.0, 1.0, 0, 0L, maxTokens, List.of(), false);
    }

    public boolean isGreedy() {
        return temperature == 0.0;
    }
}
