"""Sub-network search in a pretrained Llama-architecture language model (LLaMA-NAS, Munoz et al.
2024; InstaTune, Sridhar et al. 2023): the checkpoint, loaded from a local folder, is the
super-network of the ``hf-lm`` space.

- :mod:`~nasforge.oneshot.lm.hf` — loading and saving with ``transformers`` (the optional extra
  ``nasforge[lm]``; local folders and safetensors only);
- :mod:`~nasforge.oneshot.lm.elastic` — :class:`ElasticLlama`: the forward pass of any
  sub-network (first k layers, leading MLP units, leading attention heads) on the shared
  weights, and its extraction as a stand-alone smaller ``LlamaForCausalLM``;
- :mod:`~nasforge.oneshot.lm.tokens` — token windows of a text task and perplexity;
- :mod:`~nasforge.oneshot.lm.finetune` — sandwich-rule fine-tuning with in-place distillation;
- :mod:`~nasforge.oneshot.lm.evaluator` — the ``lm-subnet`` evaluator (validation perplexity,
  params, measured latency) and the export of the selected sub-network.

Importing this package does not import torch or transformers.
"""
