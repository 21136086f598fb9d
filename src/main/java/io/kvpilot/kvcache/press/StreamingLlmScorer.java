package io.kvpilot.kvcache.press;

import ai.djl.ndarray.NDArray;

/**
 * StreamingLLM: keep the first {@code sinks} entries (attention sinks) and the most recent ones.
 *
 * <p>Xiao et al., "Efficient Streaming Language Models with Attention Sinks", ICLR 2024, arXiv:2309.17453.
 * As kvpress's {@code streaming_llm_press.py}: sinks score {@code +Inf}, the rest score their position, so the top-k
 * are exactly the sinks plus the {@code keep - sinks} latest entries.
 *
 * @param sinks number of leading entries always kept
 */
public record StreamingLlmScorer(int sinks) implements Scorer {

    public StreamingLlmScorer {
        if (sinks < 0) {
            throw new IllegalArgumentException("sinks must be >= 0, got " + sinks);
        }
    }

    @Override
    public NDArray score(LayerView view, int keep) {
        int t = view.tokens();
        float[] row = new float[t];
        for (int i = 0; i < t; i++) {
            row[i] = i < sinks ? Float.POSITIVE_INFINITY : i;
        }
        return view.keys().getManager().create(row).expandDims(0).repeat(0, view.kvHeads());
    }
}
