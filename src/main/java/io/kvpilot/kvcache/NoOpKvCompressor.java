package io.kvpilot.kvcache;

/** Leaves the cache as the model computed it: the {@code none} method, and the identity spec of every method. */
public final class NoOpKvCompressor implements KvCompressor {

    public static final NoOpKvCompressor INSTANCE = new NoOpKvCompressor();

    private NoOpKvCompressor() {}

    @Override
    public void afterPrefill(SequenceKvCache cache, PrefillObservation observation) {}
}
