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

    CheckpointEngineFactory(Path checkpoint, int threads, KvCompressors compressors) {
        this.checkpoint = checkpoint;
        this.threads = threads;
        this.compressors = compressors;
    }

    @Override
    public GenerationEngine load() {
        if (!Files.isDirectory(checkpoint)) {
            throw new IllegalStateException("kvpilot.model.path " + checkpoint.toAbsolutePath()
                    + " is not a checkpoint directory");
        }
        EngineOptions options = EngineOptions.defaults().withCompressors(compressors);
        return EngineLoader.load(checkpoint, threads == 0 ? options : options.withThreads(threads));
    }
}
