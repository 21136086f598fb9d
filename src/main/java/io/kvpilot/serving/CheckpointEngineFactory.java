package io.kvpilot.serving;

import io.kvpilot.engine.EngineLoader;
import io.kvpilot.engine.EngineOptions;
import io.kvpilot.engine.GenerationEngine;
import java.nio.file.Files;
import java.nio.file.Path;

/** Loads a Hugging Face checkpoint directory with the engine's {@code EngineLoader}. */
final class CheckpointEngineFactory implements EngineFactory {

    private final Path checkpoint;
    private final int threads;

    CheckpointEngineFactory(Path checkpoint, int threads) {
        this.checkpoint = checkpoint;
        this.threads = threads;
    }

    @Override
    public GenerationEngine load() {
        if (!Files.isDirectory(checkpoint)) {
            throw new IllegalStateException("kvpilot.model.path " + checkpoint.toAbsolutePath()
                    + " is not a checkpoint directory");
        }
        return threads == 0 ? EngineLoader.load(checkpoint)
                : EngineLoader.load(checkpoint, EngineOptions.defaults().withThreads(threads));
    }
}
