package io.kvpilot.engine;

/**
 * Facts about the loaded model that the serving layer plans with.
 *
 * @param id the model id served under {@code /v1/models} (the checkpoint directory's name)
 * @param architecture the Hugging Face architecture, e.g. {@code LlamaForCausalLM}
 * @param contextLength the context window in tokens (prompt plus generated)
 * @param vocabSize vocabulary size
 * @param layers number of transformer layers
 * @param kvHeads key/value heads per layer
 * @param headDim dimension of one head
 * @param kvBytesPerToken bytes one token's keys and values take over all layers, uncompressed, at the dtype the
 *     cache stores (fp32 on CPU)
 * @param parameterCount number of weights
 */
public record ModelInfo(
        String id,
        String architecture,
        int contextLength,
        int vocabSize,
        int layers,
        int kvHeads,
        int headDim,
        long kvBytesPerToken,
        long parameterCount) {}
