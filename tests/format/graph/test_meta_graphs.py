"""A SavedModel with several MetaGraphs: listed by tag set, chosen as TensorFlow's loader does."""

from __future__ import annotations

import pytest
from graph_oracle import assert_nodes_match, their_saved_model
from tf_checkpoints import import_tensorflow

from ckpt_browser.format import CheckpointError
from ckpt_browser.format.graph.meta_graphs import parse_tags
from ckpt_browser.format.graph.reader import list_meta_graphs, load_graph


def their_loaded_meta_graph(directory, tags):
    """The MetaGraphDef TensorFlow's own SavedModel loader picks for `tags`."""
    tf = import_tensorflow()
    with tf.Graph().as_default(), tf.compat.v1.Session() as session:
        return tf.compat.v1.saved_model.loader.load(session, list(tags), str(directory))


def test_tag_sets_listed_as_tensorflow_wrote_them(multi_meta_graph_savedmodel):
    directory = multi_meta_graph_savedmodel.directory
    theirs = [tuple(m.meta_info_def.tags) for m in their_saved_model(directory).meta_graphs]
    assert theirs == list(multi_meta_graph_savedmodel.tag_sets)
    assert list_meta_graphs(directory) == theirs
    assert list_meta_graphs(directory / "saved_model.pb") == theirs
    assert load_graph(directory).meta_graphs == theirs


@pytest.mark.parametrize("tags", [("serve",), ("train",), ("eval",), ("gpu", "serve")])
def test_each_tag_set_loads_the_graph_tensorflow_loads(multi_meta_graph_savedmodel, tags):
    directory = multi_meta_graph_savedmodel.directory
    theirs = their_loaded_meta_graph(directory, tags)
    graph = load_graph(directory, tags=tags)
    assert set(graph.tags) == set(tags) == set(theirs.meta_info_def.tags)
    assert_nodes_match(graph.nodes, theirs.graph_def.node)
    new_node = multi_meta_graph_savedmodel.new_nodes.get(tuple(graph.tags))
    if new_node:
        assert new_node in graph.node_by_name
        assert new_node not in load_graph(directory).node_by_name


def test_without_tags_the_serving_graph_is_shown(multi_meta_graph_savedmodel):
    directory = multi_meta_graph_savedmodel.directory
    graph = load_graph(directory)
    assert graph.tags == ["serve"]
    theirs = their_loaded_meta_graph(directory, ["serve"])
    assert_nodes_match(graph.nodes, theirs.graph_def.node)


def test_unknown_tags_name_the_tag_sets_there_are(multi_meta_graph_savedmodel):
    directory = multi_meta_graph_savedmodel.directory
    tf = import_tensorflow()
    with pytest.raises(RuntimeError), tf.Graph().as_default(), tf.compat.v1.Session() as s:
        tf.compat.v1.saved_model.loader.load(s, ["gpu"], str(directory))  # a subset is not enough
    with pytest.raises(CheckpointError) as caught:
        load_graph(directory, tags=("gpu",))
    message = str(caught.value)
    assert "\n" not in message and "'gpu'" in message
    assert message.endswith("the tag sets here are: serve; serve,gpu; train; eval")


def test_files_without_tag_sets(tf1_training_dir, frozen_pb):
    meta_path = tf1_training_dir.prefix + ".meta"
    assert list_meta_graphs(meta_path) == [()]
    assert list_meta_graphs(frozen_pb.path) == [()]
    assert load_graph(frozen_pb.path, tags=()).meta_graphs == [()]
    with pytest.raises(CheckpointError, match=r"the tag sets here are: \(no tags\)"):
        load_graph(meta_path, tags=("serve",))


def test_tags_as_typed():
    assert parse_tags("train") == ("train",)
    assert parse_tags(" serve , gpu,") == ("serve", "gpu")
