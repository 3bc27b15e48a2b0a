"""Tiny random transformer model folders with tokenizers trained on the fly (no downloads)."""

from __future__ import annotations

from pathlib import Path

from cpc_models.data import load_split
from tests.conftest import DATASET


def tiny_bert_folder(out: Path, n_texts: int = 300, hidden: int = 32, max_length: int = 128) -> Path:
    """A 2-layer BERT with a WordPiece tokenizer, saved as a CPC transformer model folder over the real labels."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertConfig, BertForSequenceClassification, PreTrainedTokenizerFast

    split = load_split(DATASET, "validation")
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok.train_from_iterator(split.texts[:n_texts], trainers.WordPieceTrainer(vocab_size=1500, special_tokens=specials))
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[(t, tok.token_to_id(t)) for t in ("[CLS]", "[SEP]")]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]",
        mask_token="[MASK]", model_max_length=max_length,
    )
    labels = split.vocabulary
    config = BertConfig(
        vocab_size=tok.get_vocab_size(), hidden_size=hidden, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=2 * hidden, max_position_embeddings=max_length, num_labels=len(labels),
        id2label=dict(enumerate(labels)), label2id={code: i for i, code in enumerate(labels)},
        problem_type="multi_label_classification",
    )
    model = BertForSequenceClassification(config)
    model.config.cpc_model_type = "transformer"
    model.save_pretrained(out)
    fast.save_pretrained(out)
    return out
