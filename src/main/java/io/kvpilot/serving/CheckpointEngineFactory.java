package io.kvpilot.serving;

import io.kvpilot.engine.EngineLoader;
import io.kvpilot.engine.GenerationEngine;
import java.nio.file.Files;
import java.nio.file.Path;

/** Loads a Hugging Face checkpoint directory with the engine's {@code EngineLoader}. */
final class CheckpointEngineFactory implements EngineFactory {

    private final Path checkpoint;

    CheckpointEngineFactory(Path checkpoint) {
        this.checkpoint = checkpoint;
    }

    @Override
    public GenerationEngine load() {
        if (!Files.isDirectory(checkpoint)) {
            throw new IllegalStateException("kvpilot.model.path " + checkpoint.toAbsolutePath()
                    + " is not a checkpoint directory");
        }
        return EngineLoader.load(checkpoint);
    }
}
