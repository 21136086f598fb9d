package io.kvpilot.serving;

import io.kvpilot.engine.EngineLoader;
import io.kvpilot.engine.EngineOptions;
import io.kvpilot.engine.GenerationEngine;
import io.kvpilot.kvcache.KvCompressors;
import java.nio.file.Files;
import java.nio.file.Path;

/** Loads a Hugging Face checkpoint directory with the engine's {@code EngineLoader} and the known KV methods. */
final class CheckpointEngineFactory implements EngineFactory {

    private final Path checkpoint;
    private final int threads;
    private final KvCompressors compressors;
    private final long kvBudgetBytes;

    /** @param kvBudgetBytes the hard limit of the engine's KV pool: the budget admission plans with */
    CheckpointEngineFactory(Path checkpoint, int threads, KvCompressors compressors, long kvBudgetBytes) {
        this.checkpoint = checkpoint;
        this.threads = threads;
        this.compressors = compressors;
        this.kvBudgetBytes = kvBudgetBytes;
    }

    @Override
    public GenerationEngine load() {
        if (!Files.isDirectory(checkpoint)) {
            throw new IllegalStateException("kvpilot.model.path " + checkpoint.toAbsolutePath()
                    + " is not a checkpoint directory");
        }
        EngineOptions options = EngineOptions.defaults().withCompressors(compressors).withKvBudgetBytes(kvBudgetBytes);
        return EngineLoader.load(checkpoint, threads == 0 ? options : options.withThreads(threads));
    }
}
