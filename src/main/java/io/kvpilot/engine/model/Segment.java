package io.kvpilot.engine.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import io.kvpilot.kvcache.SequenceKvCache;

/**
 * One sequence's share of a packed forward pass, what both passes (libtorch's and the Java one) take: {@code count}
 * tokens appended to {@code cache} from its position on; the attention of its last {@code observeWindow} queries goes
 * to {@code observed}, and with {@code sums} the attention of all its queries is summed there (H2O).
 */
public record Segment(SequenceKvCache cache, int count, int observeWindow, NDArray[] observed, NDManager observedManager,
        AttentionSums sums) {

    public static Segment of(SequenceKvCache cache, int count) {
        return new Segment(cache, count, 0, null, null, null);
    }
}
