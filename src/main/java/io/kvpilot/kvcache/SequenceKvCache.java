package io.kvpilot.kvcache;

import ai.djl.ndarray.NDManager;

/**
 * One sequence's KV cache: a {@link KvLayerStore} per layer, all storage from one {@link KvBlockPool}, all of it
 * returned by {@link #close()} (idempotent). It also counts the positions fed so far, which is what the uncompressed
 * size and the next token's RoPE position derive from — not the number of entries held.
 */
public final class SequenceKvCache implements AutoCloseable {

    private final KvLayout layout;
    private final KvBlockPool pool;
    private final NDManager manager;
    private final KvLayerStore[] layers;
    private int positions;
    private boolean closed;

    /** A dense fp32 cache with room for {@code expectedTokens} before its first growth. */
    public SequenceKvCache(KvBlockPool pool, NDManager parent, KvLayout layout, int expectedTokens) {
        this.layout = layout;
        this.pool = pool;
        this.manager = parent.newSubManager();
        this.layers = new KvLayerStore[layout.layers()];
        try {
            for (int i = 0; i < layers.length; i++) {
                layers[i] = new DenseKvLayerStore(pool, manager, layout.kvHeads(), layout.headDim(), expectedTokens);
            }
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    public KvLayout layout() {
        return layout;
    }

    public KvLayerStore layer(int index) {
        return layers[index];
    }

    public int layerCount() {
        return layers.length;
    }

    /**
     * Swaps in another store for one layer (e.g. a quantized one built from the old store's entries); the old store
     * is closed and its bytes return to the pool.
     */
    public void replaceLayer(int index, KvLayerStore store) {
        KvLayerStore old = layers[index];
        layers[index] = store;
        if (old != store && old != null) {
            old.close();
        }
    }

    /** The pool this cache's storage is counted in (stores built by a compressor allocate or adopt from it). */
    public KvBlockPool pool() {
        return pool;
    }

    /** The manager the stores' tensors live in (for stores built by a compressor). */
    public NDManager manager() {
        return manager;
    }

    /** Positions fed through the model so far: the RoPE position of the next token. */
    public int positions() {
        return positions;
    }

    /** Called by the engine after each forward pass that appended {@code count} positions to every layer. */
    public void advance(int count) {
        positions += count;
    }

    /** Room for {@code tokens} more positions in every layer; throws {@link KvBudgetExceededException} if none. */
    public void reserve(int tokens) {
        for (KvLayerStore layer : layers) {
            layer.reserve(tokens);
        }
    }

    /** Bytes the stores really hold now. */
    public long bytes() {
        long sum = 0;
        for (KvLayerStore layer : layers) {
            if (layer != null) {
                sum += layer.bytes();
            }
        }
        return sum;
    }

    /**
     * Bytes the positions fed so far would take in a dense fp32 cache (what this server stores at 16 bits, whatever the
     * checkpoint's dtype), without block rounding: {@code bytes_uncompressed} of the API and the evaluation's reference.
     */
    public long bytesUncompressed() {
        return positions * layout.bytesPerToken();
    }

    public boolean isClosed() {
        return closed;
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        for (int i = 0; i < layers.length; i++) {
            if (layers[i] != null) {
                layers[i].close();
                layers[i] = null;
            }
        }
        manager.close();
    }
}
