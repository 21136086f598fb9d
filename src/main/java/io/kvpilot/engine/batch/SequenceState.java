package io.kvpilot.engine.batch;

import io.kvpilot.engine.model.AttentionSums;
import io.kvpilot.kvcache.KvCompressionSpec;
import io.kvpilot.kvcache.KvCompressor;
import io.kvpilot.kvcache.SequenceKvCache;
import java.util.Random;

/** The engine's side of one sequence: its KV cache, random stream, text stream and how much of its prompt is in. */
final class SequenceState {

    SequenceKvCache cache; // null before it is allocated and once it is freed
    final Random random;
    KvCompressor compressor; // replaced when the sequence is recompressed
    KvCompressionSpec applied;
    final TextStream text; // null when the checkpoint has no tokenizer
    int decodeSteps;
    int prefilled; // prompt tokens in the cache so far; the prompt is all in once it equals its length
    AttentionSums sums; // while a prompt whose compressor wants them prefills

    SequenceState(Random random, KvCompressor compressor, KvCompressionSpec applied, TextStream text) {
        this.random = random;
        this.compressor = compressor;
        this.applied = applied;
        this.text = text;
    }
}
