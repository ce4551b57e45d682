"""Deploy targets: the services released, their Kubernetes deployments, and cluster access."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field

from bot.config.base import (
    ConfigPath,
    K8sName,
    K8sNamespace,
    NonEmptyStr,
    SectionModel,
    ServiceName,
    Severity,
)
from bot.config.conditions import ConditionName, ConditionOverride
from bot.config.durations import Duration, PositiveDuration
from bot.config.github import ServiceGitHub
from bot.config.problems import ConfigProblem


class ImageOverride(SectionModel):
    """A kustomize-style `images:` entry: the image whose tag becomes the release version."""

    name: NonEmptyStr
    new_tag: NonEmptyStr = "{version}"
    new_name: NonEmptyStr | None = None

    def problems(self) -> list[ConfigProblem]:
        """Reject a name that carries a tag or digest (the rule matches the name only)."""
        last = self.name.rsplit("/", 1)[-1]
        if ":" in last or "@" in self.name:
            return [ConfigProblem("name", "give the image name without a tag or digest")]
        return []


class KubernetesTarget(SectionModel):
    """Name one Deployment (and, optionally, the manifests that deploy it)."""

    namespace: K8sNamespace
    deployment: K8sName
    manifests: ConfigPath | None = None
    images: list[ImageOverride] = Field(default_factory=list)
    progress_deadline: PositiveDuration = timedelta(minutes=10)


class ServiceKubernetes(SectionModel):
    """Give a service's Deployment in each environment."""

    staging: KubernetesTarget | None = None
    production: KubernetesTarget | None = None


class ServiceSettings(SectionModel):
    """Describe one releasable service and where its health can be read."""

    name: ServiceName
    prometheus_url: NonEmptyStr | None = None
    health_url: NonEmptyStr | None = None
    kubernetes: ServiceKubernetes = Field(default_factory=ServiceKubernetes)
    conditions: dict[ConditionName, ConditionOverride] = Field(default_factory=dict)
    github: ServiceGitHub | None = None  # evidence checks (issue 17)

    def problems(self) -> list[ConfigProblem]:
        """Reject URLs that are not http(s), and what `[services.github]` rejects."""
        found = [
            ConfigProblem(key, "expected an http:// or https:// URL")
            for key, url in (
                ("prometheus_url", self.prometheus_url),
                ("health_url", self.health_url),
            )
            if url is not None and not url.startswith(("http://", "https://"))
        ]
        if self.github is not None:
            found += [ConfigProblem(f"github.{p.path}", p.message) for p in self.github.problems()]
        return found


class AutoRollbackSettings(SectionModel):
    """Say which breaches roll back production without waiting for a human."""

    enabled: bool = False
    conditions: list[NonEmptyStr] = Field(default_factory=list)
    severities: list[Severity] = Field(default_factory=list)


class DeploySilenceSettings(SectionModel):
    """Silence the service's alerts in Alertmanager while production rolls out.

    Off while `alertmanager_url` is unset. The silence matches `service="<service>"` and
    ends by itself after the rollout's progress deadline plus `settle`, so a bot that dies
    mid-rollout never silences for long; the bot expires it `settle` after the rollout ends.
    """

    alertmanager_url: NonEmptyStr | None = None
    settle: Duration = timedelta(minutes=2)

    def problems(self) -> list[ConfigProblem]:
        """Reject a URL that is not http(s)."""
        url = self.alertmanager_url
        if url is not None and not url.startswith(("http://", "https://")):
            return [ConfigProblem("alertmanager_url", "expected an http:// or https:// URL")]
        return []


class KubernetesSettings(SectionModel):
    """Say how the bot reaches the cluster."""

    in_cluster: bool = False
    kubeconfig: ConfigPath | None = None
    context: NonEmptyStr | None = None
    auto_rollback: AutoRollbackSettings = Field(default_factory=AutoRollbackSettings)
    deploy_silence: DeploySilenceSettings = Field(default_factory=DeploySilenceSettings)

    def problems(self) -> list[ConfigProblem]:
        """Reject contradictory cluster access and an auto-rollback that can never fire."""
        found: list[ConfigProblem] = []
        if self.in_cluster and (self.kubeconfig is not None or self.context is not None):
            key = "kubeconfig" if self.kubeconfig is not None else "context"
            found.append(ConfigProblem(key, "not used when in_cluster is true; remove one of them"))
        rollback = self.auto_rollback
        if rollback.enabled and not rollback.conditions and not rollback.severities:
            found.append(
                ConfigProblem(
                    "auto_rollback.enabled",
                    "true, but neither auto_rollback.conditions nor auto_rollback.severities "
                    "lists anything, so it would never roll back",
                )
            )
        return found
