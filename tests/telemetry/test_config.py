import pytest

from mailsift.errors import ConfigError
from mailsift.telemetry.config import IngestionPath, load_langfuse_config

KEYS = {"LANGFUSE_PUBLIC_KEY": "pk-lf-abc", "LANGFUSE_SECRET_KEY": "sk-lf-def"}


def test_no_keys_means_off():
    assert load_langfuse_config({}) is None


def test_defaults_and_aliases():
    config = load_langfuse_config({**KEYS, "LANGFUSE_BASE_URL": "http://127.0.0.1:3000/"})

    assert config is not None
    assert config.host == "http://127.0.0.1:3000"
    assert config.ingestion is IngestionPath.AUTO
    assert "sk-lf-def" not in repr(config)


def test_host_takes_precedence_over_aliases():
    config = load_langfuse_config(
        {
            **KEYS,
            "LANGFUSE_HOST": "https://a.example.com",
            "LANGFUSE_BASE_URL": "https://b.example.com",
            "LANGFUSE_ENDPOINT": "https://c.example.com",
        }
    )

    assert config is not None
    assert config.host == "https://a.example.com"


def test_quoted_values_are_unquoted():
    config = load_langfuse_config(
        {
            "LANGFUSE_PUBLIC_KEY": '"pk-lf-abc"',
            "LANGFUSE_SECRET_KEY": "'sk-lf-def'",
            "LANGFUSE_HOST": '"https://x.example.com"',
        }
    )

    assert config is not None
    assert config.public_key == "pk-lf-abc"
    assert config.host == "https://x.example.com"


@pytest.mark.parametrize(
    ("environment", "message"),
    [
        ({"LANGFUSE_PUBLIC_KEY": "pk-lf-a"}, "LANGFUSE_SECRET_KEY is missing"),
        ({"LANGFUSE_SECRET_KEY": "sk-lf-a"}, "LANGFUSE_PUBLIC_KEY is missing"),
        ({"LANGFUSE_PUBLIC_KEY": "sk-lf-a", "LANGFUSE_SECRET_KEY": "pk-lf-b"}, "swapped"),
        ({**KEYS, "LANGFUSE_HOST": "cloud.langfuse.com"}, "must be an http(s) URL"),
        ({**KEYS, "LANGFUSE_HOST": "https://x.example.com/api/public/otel"}, "without a path"),
        ({**KEYS, "LANGFUSE_HOST": "https://x.example.com:99999"}, "invalid port"),
        ({**KEYS, "LANGFUSE_INGESTION": "grpc"}, "otlp, legacy or auto"),
    ],
)
def test_invalid_settings_are_one_line_errors(environment, message):
    with pytest.raises(ConfigError) as caught:
        load_langfuse_config(environment)

    assert message in str(caught.value)
    assert "\n" not in str(caught.value)
    assert "sk-lf-def" not in str(caught.value)
