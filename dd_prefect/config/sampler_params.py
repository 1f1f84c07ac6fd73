"""Data Designer's ``data_designer.config.sampler_params``: sampler types and params.

Only re-exports; they live in :mod:`dd_prefect.config.samplers`.
"""

from dd_prefect.config.samplers import (
    BernoulliSamplerParams,
    BinomialSamplerParams,
    CategorySamplerParams,
    DatetimeSamplerParams,
    GaussianSamplerParams,
    PersonFromFakerSamplerParams,
    PersonSamplerParams,
    PoissonSamplerParams,
    SamplerType,
    SubcategorySamplerParams,
    TimeDeltaSamplerParams,
    UniformSamplerParams,
    UUIDSamplerParams,
)

__all__ = [
    "BernoulliSamplerParams",
    "BinomialSamplerParams",
    "CategorySamplerParams",
    "DatetimeSamplerParams",
    "GaussianSamplerParams",
    "PersonFromFakerSamplerParams",
    "PersonSamplerParams",
    "PoissonSamplerParams",
    "SamplerType",
    "SubcategorySamplerParams",
    "TimeDeltaSamplerParams",
    "UUIDSamplerParams",
    "UniformSamplerParams",
]
