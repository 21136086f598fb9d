package io.kvpilot.kvcache.press;

import io.kvpilot.kvcache.KvBlockPool;
import io.kvpilot.kvcache.KvLayout;
import io.kvpilot.kvcache.lowrank.LowRankKeysFormat;
import io.kvpilot.kvcache.quant.KiviFormat;
import io.kvpilot.kvcache.quant.KiviKvStore;
import io.kvpilot.kvcache.quant.KvFormat;
import io.kvpilot.kvcache.quant.QuantizedStore;

/**
 * {@link KvFootprint}'s arithmetic: the engine's allocations for one sequence replayed on counts, in the order the
 * stores make them (each event names the store method it mirrors). Per layer it tracks the entries per head
 * {@code n}, the dense capacity {@code cap} and the bytes held; {@link #peak} is the running maximum of the sum,
 * including the moments a store holds old and new tensors together.
 */
final class FootprintReplay {

    private enum Storage { DENSE, INT8, KIVI, LOW_RANK }

    private final KvLayout layout;
    private final KvMethod method;
    private final Storage storage;
    private final int layers;
    private final long heads;
    private final long dim;
    private final int[] n;
    private final int[] cap;
    private final long[] bytes;
    private final boolean ragged; // AdaKV: heads keep different counts, the store pads and masks
    private boolean exact;
    private long held;
    private long peak;
    private boolean prefilled;
    private long peakAfterPrefill;

    FootprintReplay(KvLayout layout, KvMethod method) {
        this.layout = layout;
        this.method = method;
        this.layers = layout.layers();
        this.heads = layout.kvHeads();
        this.dim = layout.headDim();
        this.n = new int[layers];
        this.cap = new int[layers];
        this.bytes = new long[layers];
        KvFormat format = method == null ? KvFormat.DENSE : method.format();
        this.exact = true;
        if (format.isDense()) {
            storage = Storage.DENSE;
        } else if (format == KvFormat.INT8) {
            storage = Storage.INT8;
        } else if (format instanceof KiviFormat) {
            storage = Storage.KIVI;
        } else if (format instanceof LowRankKeysFormat) {
            storage = Storage.LOW_RANK;
        } else {
            storage = Storage.DENSE; // a format registered by a user: bounded by the dense cache it starts from
            exact = false;
        }
        Press press = method == null ? null : method.press();
        this.ragged = press != null && press.heads() != HeadAllocation.UNIFORM;
        if (ragged) {
            exact = false;
        }
    }

    KvFootprint run(int prompt, int generated) {
        prefill(prompt);
        prefilled = true;
        peakAfterPrefill = held;
        for (int step = 1; step < generated; step++) { // the first token comes from prefill
            decodeStep();
            int interval = method == null ? 0 : method.decodeInterval();
            if (interval > 0 && step % interval == 0 && step < generated - 1) { // the engine skips a finished one
                boundDuringDecode(prompt + step);
            }
        }
        return new KvFootprint(peak, held, exact, peakAfterPrefill);
    }

    /** SequenceKvCache's dense stores for prompt + 1 tokens, then KvMethod#afterPrefill layer by layer. */
    private void prefill(int prompt) {
        int initial = KvBlockPool.roundUpToBlocks(prompt + 1);
        for (int l = 0; l < layers; l++) {
            n[l] = prompt;
            cap[l] = initial;
            set(l, dense(initial, false));
        }
        if (method == null || (method.press() == null && storage == Storage.DENSE)) {
            return;
        }
        for (int l = 0; l < layers; l++) {
            if (method.press() != null) {
                int keep = budget(l, prompt);
                if (keep < prompt) {
                    retainDense(l, length(keep, prompt));
                }
            }
            convert(l);
        }
    }

    /**
     * KvFormat#convert: the new store is built (its tensors adopted) while the dense one is still alive; int8, KIVI and
     * low-rank stores allocate their capacity buffers for exactly the entries held ({@link #initialCapacity}).
     */
    private void convert(int l) {
        if (storage == Storage.DENSE) {
            return;
        }
        cap[l] = initialCapacity(n[l]);
        transientExtra(stored(l) + mask(n[l]));
        set(l, stored(l) + mask(n[l]));
    }

    /** The capacity an int8, KIVI or low-rank store is built or compacted with for {@code entries}. */
    private int initialCapacity(int entries) {
        return switch (storage) {
            case INT8, LOW_RANK -> KvBlockPool.roundUpToBlocks(entries);
            case KIVI -> {
                int g = kivi().groupSize();
                yield Math.max(g, (KiviKvStore.quantizedAt(kivi(), entries) + g - 1) / g * g);
            }
            default -> 0;
        };
    }

    /** DenseKvLayerStore#retain: K and V compacted into new tensors, then the old ones (and mask) freed. */
    private void retainDense(int l, int keep) {
        int newCap = KvBlockPool.roundUpToBlocks(keep);
        transientExtra(dense(newCap, false));
        n[l] = keep;
        cap[l] = newCap;
        set(l, dense(newCap, ragged));
    }

    /**
     * One decode pass: KvLayerStore#reserve (a dense store grows a block; an int8, KIVI or low-rank store grows its
     * capacity buffers geometrically, tensor by tensor), then the append of one entry, in place.
     */
    private void decodeStep() {
        for (int l = 0; l < layers; l++) {
            if (storage == Storage.DENSE && n[l] + 1 > cap[l]) {
                int newCap = KvBlockPool.roundUpToBlocks(n[l] + 1);
                long half = heads * newCap * dim * layout.bytesPerElement();
                transientExtra(half); // K grown: the bigger tensor exists before the old one is freed
                set(l, bytes[l] - dense(cap[l], false) / 2 + half);
                transientExtra(half); // then V
                cap[l] = newCap;
                set(l, dense(newCap, false) + (ragged ? heads * (long) newCap * 4 : 0));
            } else if (storage != Storage.DENSE) {
                int needed = storage == Storage.KIVI ? KiviKvStore.quantizedAt(kivi(), n[l] + 1) : n[l] + 1;
                int unit = storage == Storage.KIVI ? kivi().groupSize() : KvBlockPool.BLOCK_TOKENS;
                int grown = QuantizedStore.grownCapacity(cap[l], needed, unit);
                if (grown != cap[l]) {
                    long[] before = tensors(cap[l]);
                    long[] after = tensors(grown);
                    for (int i = 0; i < before.length; i++) { // each new tensor exists before its old one is freed
                        if (before[i] == after[i]) {
                            continue; // KIVI's window and the low-rank basis keep their size
                        }
                        transientExtra(after[i]);
                        set(l, bytes[l] - before[i] + after[i]);
                    }
                    cap[l] = grown;
                }
            }
        }
        for (int l = 0; l < layers; l++) {
            n[l]++;
            set(l, storage == Storage.DENSE ? bytes[l] : stored(l) + mask(n[l]));
        }
    }

    /** KvMethod#duringDecode: each layer back to the press's budget over every position seen. */
    private void boundDuringDecode(int positions) {
        for (int l = 0; l < layers; l++) {
            int budget = budget(l, positions);
            if (budget >= n[l]) {
                continue;
            }
            int keep = length(budget, n[l]);
            switch (storage) {
                case DENSE -> retainDense(l, keep);
                case KIVI -> { // KiviKvStore#retain: everything freed, new buffers for the kept entries, new mask
                    long oldMask = mask(n[l]);
                    n[l] = keep;
                    cap[l] = initialCapacity(keep);
                    set(l, stored(l) + oldMask);
                    set(l, stored(l) + mask(keep));
                }
                default -> { // int8 and low-rank retain: tensor by tensor, each copy made before its original is freed
                    long[] before = tensors(cap[l]);
                    int newCap = initialCapacity(keep);
                    long[] after = tensors(newCap);
                    int gathered = storage == Storage.LOW_RANK ? 2 : before.length; // not the low-rank basis
                    for (int i = 0; i < gathered; i++) {
                        transientExtra(after[i]);
                        set(l, bytes[l] - before[i] + after[i]);
                    }
                    n[l] = keep;
                    cap[l] = newCap;
                    set(l, stored(l) + mask(keep));
                }
            }
        }
    }

    /** Entries per head layer {@code l}'s budget allows once {@code positions} tokens were seen. */
    private int budget(int l, int positions) {
        Press press = method.press();
        return press.budgets().keep(l, layers, positions, press.ratio());
    }

    /**
     * The length of layer's store after a compaction to {@code keep} entries per head of {@code entries}: exactly
     * {@code keep} (top-k keeps that many), or for AdaKV the most one head can take, which the padded store holds.
     */
    private int length(int keep, int entries) {
        Press press = method.press();
        if (!ragged) {
            return keep;
        }
        if (press.heads() instanceof AdaKvHeads ada) {
            int floor = Math.min(entries, (int) Math.ceil(ada.alpha() * keep));
            long spare = heads * keep - heads * floor;
            return (int) Math.min(entries, floor + spare);
        }
        return entries; // an unknown head allocation: no saving assumed
    }

    private long dense(int capacity, boolean withMask) {
        long kv = 2 * heads * capacity * dim * layout.bytesPerElement();
        return withMask ? kv + heads * (long) capacity * 4 : kv;
    }

    /** A ragged quantized store's fp32 padding mask {@code [K, 1, n]}. */
    private long mask(int entries) {
        return ragged ? heads * (long) entries * 4 : 0;
    }

    /** Bytes of layer {@code l}'s non-dense store now: its capacity buffers (and a low-rank store's basis). */
    private long stored(int l) {
        long sum = 0;
        for (long t : tensors(cap[l])) {
            sum += t;
        }
        return sum;
    }

    /**
     * The bytes of each tensor of an int8, KIVI or low-rank store of capacity {@code c}, in the order the store grows
     * them: int8 codes and fp32 scales for K then V; KIVI's packed codes, fp16 key scales and zeros per channel and
     * token group, packed value codes, fp16 value scales and zeros per token and channel group (its fixed fp16 window
     * of R+G tokens is not regrown and is added once); low-rank fp32 key coefficients, fp32 values, then the fixed
     * basis {@code [K, D, r]}.
     */
    private long[] tensors(int c) {
        if (storage == Storage.LOW_RANK) {
            long r = ((LowRankKeysFormat) method.format()).rank((int) dim);
            return new long[] {heads * (long) c * r * 4, heads * (long) c * dim * 4, heads * dim * r * 4};
        }
        if (storage == Storage.INT8) {
            long codes = heads * (long) c * dim;
            long scales = heads * (long) c * 4;
            return new long[] {codes, scales, codes, scales};
        }
        int g = kivi().groupSize();
        long codes = heads * (long) c * dim * kivi().bits() / 8;
        long keyParams = heads * (long) (c / g) * dim * 2;
        long valueParams = heads * (long) c * (dim / g) * 2;
        long window = 2 * heads * (long) (kivi().residual() + g) * dim * 2;
        return new long[] {codes, keyParams, keyParams, codes, valueParams, valueParams, window};
    }

    private KiviFormat kivi() {
        return (KiviFormat) method.format();
    }

    private void set(int l, long layerBytes) {
        held += layerBytes - bytes[l];
        bytes[l] = layerBytes;
        peak = Math.max(peak, held);
        if (prefilled) {
            peakAfterPrefill = Math.max(peakAfterPrefill, held);
        }
    }

    private void transientExtra(long extra) {
        peak = Math.max(peak, held + extra);
        if (prefilled) {
            peakAfterPrefill = Math.max(peakAfterPrefill, held + extra);
        }
    }
}
