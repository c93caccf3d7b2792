"""churnml: explained, calibrated churn-risk scores for Customer Success teams."""

__version__ = "0.1.0"
