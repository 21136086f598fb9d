package io.kvpilot.kvcache;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;

/**
 * One layer's keys and values for one sequence: the only way attention reads K/V.
 *
 * <p>Keys are stored <b>after RoPE</b>, so an entry keeps its original position wherever it sits in the store; the
 * next token's position is the sequence's length, never {@link #length()}. Entries need not be contiguous positions:
 * after compaction a store holds any subset of them, possibly a different number per KV head ("ragged"); the padding
 * of shorter heads is hidden from attention by {@link #attentionMask}. A store may keep entries quantized (issue 4):
 * {@link #keys}/{@link #values} then return them dequantized for this step only.
 *
 * <p>Shapes: {@code K = kvHeads}, {@code D = headDim}, {@code n = length()}. All tensors are fp32 on the way in and out.
 */
public interface KvLayerStore extends AutoCloseable {

    /** Slots per head attention iterates over (the longest head when ragged). */
    int length();

    /** Appends {@code t} new entries: keys and values {@code [K, t, D]} (post-RoPE), after all held ones. */
    void append(NDArray keys, NDArray values);

    /**
     * Makes room for {@code entries} more appends now, so that a budget failure surfaces before a forward pass (for
     * this sequence alone) rather than halfway through one. Stores that allocate differently may ignore it.
     */
    default void reserve(int entries) {}

    /** {@code [K, n, D]}, owned by {@code step} (a view where possible; closing it never frees the store). */
    NDArray keys(NDManager step);

    /** {@code [K, n, D]}, owned by {@code step}. */
    NDArray values(NDManager step);

    /** Additive {@code [K, 1, n]} mask, 0 for held entries and −∞ for padding, owned by {@code step}; null if none. */
    NDArray attentionMask(NDManager step);

    /**
     * The padding {@link #attentionMask} hides, as one slot range per head, for attention that reads the store
     * directly; null when no head is padded. A ragged store whose padding does not have this form returns null too
     * and is read through its mask only.
     */
    default HeadPadding padding() {
        return null;
    }

    /**
     * Compaction: keeps, for each KV head {@code h}, exactly the entries {@code keep[h]} (indices into
     * {@code [0, length())}, any order; kept in ascending order) and frees the rest — the storage shrinks for real.
     */
    void retain(int[][] keep);

    /** Bytes the store's tensors really hold now (capacity included). */
    long bytes();

    /** Returns all storage to the pool; idempotent. */
    @Override
    void close();
}
