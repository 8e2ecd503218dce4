"""Loading and saving Llama checkpoints with Hugging Face ``transformers``, from local folders only.

``transformers`` is the optional extra ``nasforge[lm]``: it is imported here, lazily, and its
absence is an error that names the extra. Weights are read from ``model.safetensors`` only
(``use_safetensors=True``: a pickled ``pytorch_model.bin`` is never loaded) and nothing is
downloaded (``local_files_only=True``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

EXTRA = "pip install 'nasforge[lm]'"


def transformers() -> Any:
    """The ``transformers`` module, or an ImportError naming the extra that installs it."""
    try:
        import transformers as tf
    except ImportError as exc:
        raise ImportError(f"language-model sub-network search needs Hugging Face transformers, the optional "
                          f"extra nasforge[lm] ({EXTRA}); import failed: {exc}") from None
    tf.utils.logging.disable_progress_bar()  # loading and saving print bars otherwise
    return tf


def load_llama(folder: str | Path, device: str = "cpu") -> Any:
    """The ``LlamaForCausalLM`` saved in the local folder (float32, eval mode, on ``device``)."""
    from nasforge.space.hf_lm import read_llama_config

    read_llama_config(folder)  # a clear error for a wrong folder before transformers looks at it
    if not any(Path(folder).glob("*.safetensors")):
        raise ValueError(f"model={folder!s}: no *.safetensors weights in the folder (pickled weights are never "
                         "loaded; re-save the model with save_pretrained(..., safe_serialization=True))")
    tf = transformers()
    model = tf.AutoModelForCausalLM.from_pretrained(str(folder), local_files_only=True, use_safetensors=True)
    if type(model).__name__ != "LlamaForCausalLM":
        raise ValueError(f"model={folder!s} loads as {type(model).__name__}, not LlamaForCausalLM")
    return model.float().to(device).eval()


def tiny_llama(vocab_size: int = 256, hidden_size: int = 64, layers: int = 4, heads: int = 4, kv_heads: int = 2,
               intermediate_size: int = 128, max_positions: int = 256, seed: int = 0) -> Any:
    """A randomly initialised small ``LlamaForCausalLM`` (tests, benchmarks: byte-level tokens)."""
    tf = transformers()
    import torch

    config = tf.LlamaConfig(vocab_size=vocab_size, hidden_size=hidden_size, num_hidden_layers=layers,
                            num_attention_heads=heads, num_key_value_heads=kv_heads,
                            intermediate_size=intermediate_size, max_position_embeddings=max_positions,
                            tie_word_embeddings=False)
    torch.manual_seed(seed)
    return tf.LlamaForCausalLM(config).float().eval()


def save_llama(model: Any, folder: str | Path) -> Path:
    """``model.save_pretrained(folder)`` as safetensors; returns the folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(folder), safe_serialization=True)
    return folder
