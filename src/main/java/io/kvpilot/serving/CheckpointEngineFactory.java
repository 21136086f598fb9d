package io.kvpilot.serving;

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
    public GenerationEngine load() throws Exception {
        if (!Files.isDirectory(checkpoint)) {
            throw new IllegalStateException("kvpilot.model.path " + checkpoint.toAbsolutePath()
                    + " is not a checkpoint directory");
        }
        // Reflection only until io.kvpilot.engine.EngineLoader lands (issue 2); then this becomes a direct call.
        Class<?> loader = Class.forName("io.kvpilot.engine.EngineLoader");
        return (GenerationEngine) loader.getMethod("load", Path.class).invoke(null, checkpoint);
    }
}
