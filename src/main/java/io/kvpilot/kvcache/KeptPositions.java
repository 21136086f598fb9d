package io.kvpilot.kvcache;

import java.util.Arrays;

/**
 * Which prompt positions one sequence's cache kept, per layer and KV head, when it was compressed after prefill: what
 * an inspection of a compression setting shows. Filled by {@link KvCompressor#afterPrefill(SequenceKvCache,
 * PrefillObservation, KeptPositions)} on the engine thread, read once the sequence is done. A layer no compressor
 * recorded kept every position (no eviction; quantization and low-rank keys store every entry).
 */
public final class KeptPositions {

    private final int tokens;
    private final int kvHeads;
    private final int[][][] kept; // [layer][head] ascending positions; null: all kept

    public KeptPositions(int layers, int kvHeads, int tokens) {
        this.tokens = tokens;
        this.kvHeads = kvHeads;
        this.kept = new int[layers][][];
    }

    /** Records layer {@code layer}'s kept entries: per head, ascending positions in {@code [0, tokens())}. */
    public void record(int layer, int[][] keptPerHead) {
        if (keptPerHead.length != kvHeads) {
            throw new IllegalArgumentException("expected " + kvHeads + " heads, got " + keptPerHead.length);
        }
        int[][] copy = new int[kvHeads][];
        for (int h = 0; h < kvHeads; h++) {
            copy[h] = keptPerHead[h].clone();
        }
        kept[layer] = copy;
    }

    /** Prompt positions the cache held before compression. */
    public int tokens() {
        return tokens;
    }

    public int layers() {
        return kept.length;
    }

    public int kvHeads() {
        return kvHeads;
    }

    /** Ascending positions layer {@code layer}, head {@code head} kept. */
    public int[] kept(int layer, int head) {
        if (kept[layer] == null) {
            int[] all = new int[tokens];
            Arrays.setAll(all, i -> i);
            return all;
        }
        return kept[layer][head].clone();
    }

    /** Per position, in how many (layer, head) pairs it was kept: from 0 to {@code layers() * kvHeads()}. */
    public int[] keptCounts() {
        int[] counts = new int[tokens];
        for (int[][] layer : kept) {
            if (layer == null) {
                for (int i = 0; i < tokens; i++) {
                    counts[i] += kvHeads;
                }
                continue;
            }
            for (int[] head : layer) {
                for (int position : head) {
                    counts[position]++;
                }
            }
        }
        return counts;
    }
}
