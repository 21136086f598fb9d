package io.kvpilot.engine;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDManager;
import io.kvpilot.engine.batch.LlamaEngine;
import io.kvpilot.engine.model.HfTextCodec;
import io.kvpilot.engine.model.ModelConfig;
import io.kvpilot.engine.model.Safetensors;
import io.kvpilot.engine.torch.LlamaModel;
import java.nio.file.Files;
import java.nio.file.Path;

/** Loads a Hugging Face checkpoint directory into a {@link GenerationEngine}. */
public final class EngineLoader {

    private EngineLoader() {}

    /** The engine for {@code checkpointDir} with default options. Fails with one {@link CheckpointException}. */
    public static GenerationEngine load(Path checkpointDir) {
        return load(checkpointDir, EngineOptions.defaults());
    }

    public static LlamaEngine load(Path checkpointDir, EngineOptions options) {
        Path dir = checkpointDir.toAbsolutePath().normalize();
        if (!Files.isDirectory(dir)) {
            throw new CheckpointException(dir + ": checkpoint directory not found");
        }
        ModelConfig cfg = ModelConfig.load(dir);
        Safetensors st = Safetensors.open(dir);
        configureThreads(options.effectiveThreads());
        NDManager root = NDManager.newBaseManager("PyTorch");
        LlamaModel model = null;
        HfTextCodec codec = null;
        try {
            model = new LlamaModel(cfg, st, root, options.javaForwardPass());
            codec = HfTextCodec.loadIfPresent(dir);
            return new LlamaEngine(dir.getFileName().toString(), cfg, model, codec, root, options);
        } catch (RuntimeException e) {
            if (codec != null) {
                codec.close();
            }
            root.close();
            if (e instanceof CheckpointException) {
                throw e;
            }
            throw new CheckpointException(dir + ": cannot load checkpoint (" + e.getMessage() + ")", e);
        }
    }

    /**
     * Intra-op threads for libtorch, set before the first op. One inter-op thread: the engine runs ops from one thread.
     * OMP_WAIT_POLICY=PASSIVE must be in the environment (the JVM cannot set it): spinning OpenMP workers make decode
     * ~10× slower on a busy 2-core machine (docs/djl-notes.md).
     */
    static synchronized void configureThreads(int threads) {
        System.setProperty("ai.djl.pytorch.num_threads", Integer.toString(threads));
        System.setProperty("ai.djl.pytorch.num_interop_threads", "1");
        Engine.getEngine("PyTorch");
        ai.djl.pytorch.jni.JniUtils.setNumThreads(threads);
    }
}
