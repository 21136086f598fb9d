package io.kvpilot.api;

import io.kvpilot.serving.Usage;
import java.util.List;
import java.util.Objects;

/**
 * The usage of a completion with several prompts: token counts and KV bytes summed over its prompts. The setting
 * ({@code method}, {@code ratio}, {@code bits}, {@code decided_by}) is the prompts' common one; where they differ
 * ({@code auto} decides per prompt) it reads {@code mixed}, with ratio 0 and the widest bits, and no predicted quality.
 */
final class CombinedUsage {

    static final String MIXED = "mixed";

    private CombinedUsage() {}

    static Usage of(List<Usage> usages) {
        if (usages.size() == 1) {
            return usages.get(0);
        }
        int prompt = 0;
        int completion = 0;
        long bytes = 0;
        long uncompressed = 0;
        Usage.KvReport first = usages.get(0).kvCache();
        boolean same = true;
        int bits = 0;
        for (Usage u : usages) {
            prompt += u.promptTokens();
            completion += u.completionTokens();
            Usage.KvReport k = u.kvCache();
            bytes += k.bytes();
            uncompressed += k.bytesUncompressed();
            bits = Math.max(bits, k.bits());
            same &= k.method().equals(first.method()) && k.ratio() == first.ratio() && k.bits() == first.bits()
                    && k.decidedBy().equals(first.decidedBy());
        }
        Usage.KvReport kv = same
                ? new Usage.KvReport(first.method(), first.ratio(), first.bits(), bytes, uncompressed,
                        first.decidedBy(), usages.stream().allMatch(u -> Objects.equals(u.kvCache().predictedQuality(),
                                first.predictedQuality())) ? first.predictedQuality() : null)
                : new Usage.KvReport(MIXED, 0.0, bits, bytes, uncompressed, MIXED, null);
        return new Usage(prompt, completion, kv);
    }
}
