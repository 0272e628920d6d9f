"""The typed application builder named in serve_config.yaml."""

from __future__ import annotations

from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field
from ray import serve
from ray.serve import Application

from deployments.embedder import BatchingEmbedder
from deployments.reranker import Reranker
from deployments.retriever import Retriever
from serve_app.ingress import PipelineIngress, SingleIngress, settle
from serve_app.services import ModeName


class AppArgs(BaseModel):
    """`args:` of the application in serve_config.yaml."""

    model_config = ConfigDict(extra="forbid")

    # pipeline: Ingress -> Embedder / Retriever / Reranker deployments, each scaled alone.
    # single: every stage inside the ingress replica (one hop; small machines).
    composition: Literal["pipeline", "single"] = "pipeline"
    # The matching modes this application serves (each mounts its own routes).
    modes: list[ModeName] = Field(default_factory=lambda: list(get_args(ModeName)), min_length=1)


class RetrieverReplica(Retriever):
    """The Retriever as a replica: loads its index before taking traffic."""

    async def __init__(self) -> None:  # type: ignore[misc]
        super().__init__()
        await self.start()
        settle()

    async def __del__(self) -> None:
        await self.close()


def build_app(args: AppArgs | dict[str, Any]) -> Application:
    """Replica counts, resources and user_config live in serve_config.yaml, not here."""
    args = args if isinstance(args, AppArgs) else AppArgs.model_validate(args)
    if args.composition == "single":
        return serve.deployment(name="Ingress")(serve.ingress()(SingleIngress)).bind(
            modes=args.modes
        )
    return serve.deployment(name="Ingress")(serve.ingress()(PipelineIngress)).bind(
        serve.deployment(name="Embedder")(BatchingEmbedder).bind(),
        serve.deployment(name="Retriever")(RetrieverReplica).bind(),
        serve.deployment(name="Reranker")(Reranker).bind(),
        modes=args.modes,
    )
