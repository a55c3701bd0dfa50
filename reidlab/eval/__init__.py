"""The evaluation engine: features in, results out, under named protocols.

``evaluate(features, "rgbn300/rgb-nir")`` -> :class:`EvalResult` (summary, CMC, per-query table);
``evaluate_all(features)`` -> one row per supported protocol; ``reidlab eval FEATURES.npz
--protocol NAME`` on the command line. See ``reidlab/eval/README.md``.
"""
from .scoring import EvalResult, ProtocolUnsupported, evaluate, evaluate_all
from .features import FeatureSet, SplitFeatures, fused_key
from .metrics import RankingResult, rank_distances, rank_features
from .protocols import Protocol, get_protocol, list_protocols, register_protocol
from .rerank import RerankMemoryError, RerankParams, average_query_expansion, k_reciprocal_rerank, rerank_memory_gb

__all__ = ["EvalResult", "ProtocolUnsupported", "evaluate", "evaluate_all", "FeatureSet", "SplitFeatures",
           "fused_key", "RankingResult", "rank_distances", "rank_features", "Protocol", "get_protocol",
           "list_protocols", "register_protocol", "RerankMemoryError", "RerankParams", "average_query_expansion",
           "k_reciprocal_rerank", "rerank_memory_gb"]
