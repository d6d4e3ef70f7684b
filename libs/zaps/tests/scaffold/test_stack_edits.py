"""The edits of the repository's own files: each adds exactly the service's lines, keeps every other line and
comment as it was, and names what it could not find in a file reshaped by hand."""

import pytest
from zaps.scaffold import stack_edits
from zaps.scaffold.names import ScaffoldError, parse_name

ORDERS = parse_name("orders")

PYPROJECT = """# The workspace.
[project]
name = "root"
dependencies = ["zaps", "test-service"]

[tool.uv.sources]
zaps = { workspace = true }  # the library
test-service = { workspace = true }

[dependency-groups]
dev = ["pytest"]
"""


def added_lines(before: str, after: str) -> list[str]:
    lines = before.splitlines()
    for line in lines:
        assert line in after.splitlines() or line.startswith(("dependencies", "COMPOSE_PROFILES", "| **total"))
    return [line for line in after.splitlines() if line not in lines]


def test_the_workspace_root_depends_on_the_service_and_takes_it_from_the_workspace():
    edited = stack_edits.add_workspace_member(PYPROJECT, ORDERS)
    assert 'dependencies = ["zaps", "test-service", "orders-service"]' in edited
    assert "test-service = { workspace = true }\norders-service = { workspace = true }\n\n[dependency-groups]" in edited
    assert added_lines(PYPROJECT, edited) == [
        'dependencies = ["zaps", "test-service", "orders-service"]',
        "orders-service = { workspace = true }",
    ]


def test_a_dependency_list_of_one_line_each_gets_a_line():
    multi = PYPROJECT.replace('["zaps", "test-service"]', '[\n    "zaps",\n    "test-service",\n]')
    assert '    "test-service",\n    "orders-service",\n]' in stack_edits.add_workspace_member(multi, ORDERS)


def test_sources_that_end_the_file_stay_at_its_end():
    text = '[project]\ndependencies = ["zaps"]\n\n[tool.uv.sources]\nzaps = { workspace = true }\n'
    edited = stack_edits.add_workspace_member(text, ORDERS)
    assert edited.endswith("zaps = { workspace = true }\norders-service = { workspace = true }\n")


COMPOSE = """name: zaps
services:
  redis:
    image: redis:8   # a comment that stays

  console:
    image: console

# What follows services.
networks:
  edge: {}
"""


def test_a_compose_service_goes_after_the_last_one():
    edited = stack_edits.add_compose_service(COMPOSE, "\n  orders-service:\n    image: orders\n", "docker-compose.yml")
    assert "  console:\n    image: console\n\n  orders-service:\n    image: orders\n\n# What follows" in edited
    assert added_lines(COMPOSE, edited) == ["  orders-service:", "    image: orders"]


def test_a_compose_file_that_ends_with_its_services_gets_the_block_at_the_end():
    text = "x-watch: &w\n  action: rebuild\n\nservices:\n  console:\n    develop: {}\n"
    edited = stack_edits.add_compose_service(text, "\n  orders-service:\n    develop: {}\n", "override")
    assert edited == text + "\n  orders-service:\n    develop: {}\n"


DEPLOY_MD = """| container | limit | notes |
|---|---|---|
| `console` | 256 MiB | the runs console |
| **total (production)** | **2144 MiB** | |
| `postgres` | 512 MiB | local only |
"""


def test_the_memory_table_gets_a_row_and_a_new_total():
    edited, total = stack_edits.add_memory_row(DEPLOY_MD, ORDERS)
    assert total == 2144 + 256
    assert edited == DEPLOY_MD.replace(
        "| **total (production)** | **2144 MiB** |",
        "| `orders-service` | 256 MiB | made by `zaps new service orders` |\n| **total (production)** | **2400 MiB** |",
    )


ENV_EXAMPLE = """# --- console ---
# Login name.
# CONSOLE_ADMIN_USERNAME=admin

# --- Docker Compose ---
# The optional services.
COMPOSE_PROFILES=console,logs
# Where the Docker socket is.
# DOCKER_SOCKET=/var/run/docker.sock
"""


def test_env_example_explains_the_variables_and_lists_the_profile():
    edited = stack_edits.add_env_example(ENV_EXAMPLE, "# --- orders-service ---\n# A.\n# ORDERS_X=1\n\n", ORDERS)
    assert "# CONSOLE_ADMIN_USERNAME=admin\n\n# --- orders-service ---\n# A.\n# ORDERS_X=1\n\n# --- Docker" in edited
    assert (
        "# The optional services.\n"
        "# orders: orders-service (in production it also needs ORDERS_WEBHOOK_SECRET).\n"
        "COMPOSE_PROFILES=console,logs,orders\n# Where the Docker socket is.\n"
    ) in edited


@pytest.mark.parametrize(
    ("edit", "text", "named"),
    [
        (lambda text: stack_edits.add_workspace_member(text, ORDERS), "[project]\nname = 'x'\n", "dependencies"),
        (lambda text: stack_edits.add_workspace_member(text, ORDERS), "[project]\ndependencies = []\n", "sources"),
        (lambda text: stack_edits.add_compose_service(text, "", "docker-compose.yml"), "name: zaps\n", "services:"),
        (lambda text: stack_edits.add_memory_row(text, ORDERS), "| `console` | 256 MiB | |\n", "total"),
        (lambda text: stack_edits.add_env_example(text, "", ORDERS), "# --- console ---\n", "Docker Compose"),
    ],
)
def test_a_file_reshaped_by_hand_is_named_not_half_edited(edit, text, named):
    with pytest.raises(ScaffoldError, match=named):
        edit(text)
