"""QAT and pruning of the sign-language APALU model, run as a script.

    KERAS_BACKEND=tensorflow python -m tests.tfmot.scenario DATASET_DIR OUT.json

Importing tensorflow-model-optimization changes process-wide state (it sets
TF_USE_LEGACY_KERAS and makes `tf.keras` resolve to tf_keras), so the tests
run this in a fresh subprocess and read the figures it writes.
"""

import json
import sys

import numpy as np


def _zero_fractions(content):
    """Fraction of zeros in the weights (input 1) of each FULLY_CONNECTED and
    CONV_2D op of a float .tflite model."""
    from ai_edge_litert import schema_py_generated as schema

    from keras_apalu import tflite

    model = schema.ModelT.InitFromPackedBuf(content, 0)
    subgraph = model.subgraphs[0]
    names = tflite.op_names(content)
    fractions = []
    for op, name in zip(subgraph.operators, names):
        if name in ("FULLY_CONNECTED", "CONV_2D"):
            tensor = subgraph.tensors[op.inputs[1]]
            data = bytes(bytearray(model.buffers[tensor.buffer].data))
            weights = np.frombuffer(data, np.float32)
            fractions.append((weights.size, float(np.mean(weights == 0))))
    return fractions


def main(dataset_dir, out_path, sparsity=0.6):
    import tf_keras

    from keras_apalu import model_optimization as mo
    from keras_apalu import tflite
    from keras_apalu.tflite import int8
    from tests.tflite import sign_language

    x_train, y_train, x_test, y_test = sign_language.load(dataset_dir)
    calibration = x_train[::6]
    model = sign_language.trained_model(dataset_dir)
    reference = model.predict(x_test, verbose=0)
    figures = {"float_accuracy": float(np.mean(reference.argmax(1) == y_test))}

    loss = tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    twin = mo.to_tf_keras(model)
    figures["twin_max_abs_error"] = float(
        np.abs(twin.predict(x_test, verbose=0) - reference).max()
    )

    qat = mo.quantize_aware(model)
    qat.compile(optimizer=tf_keras.optimizers.Adam(1e-3), loss=loss)
    qat.fit(x_train, y_train, epochs=1, batch_size=32, verbose=0)
    qat_logits = qat.predict(x_test, verbose=0)
    content = mo.convert_qat(qat, calibration, mode="custom")
    int8_logits = sign_language.run_int8(
        tflite.interpreter(model_content=content), x_test
    )
    figures.update(
        qat_accuracy=float(np.mean(qat_logits.argmax(1) == y_test)),
        qat_int8_accuracy=float(np.mean(int8_logits.argmax(1) == y_test)),
        qat_int8_rel_rmse=float(
            np.sqrt(np.mean((int8_logits - qat_logits) ** 2) / np.mean(qat_logits**2))
        ),
        qat_int8_ops=tflite.op_names(content),
        qat_int8_float_tensors=int8.float_tensors(content),
        qat_int8_bytes=len(content),
    )

    pruned = mo.prune(model, sparsity=sparsity, frequency=5)
    pruned.compile(optimizer=tf_keras.optimizers.Adam(1e-3), loss=loss)
    pruned.fit(
        x_train,
        y_train,
        epochs=2,
        batch_size=32,
        verbose=0,
        callbacks=mo.pruning_callbacks(),
    )
    mo.strip_pruning_into(pruned, model)
    logits = model.predict(x_test, verbose=0)
    figures.update(
        sparsity=sparsity,
        pruned_accuracy=float(np.mean(logits.argmax(1) == y_test)),
        pruned_keras_sparsity=mo.kernel_sparsity(model),
        pruned_tflite_sparsity=_zero_fractions(tflite.convert(model)),
    )
    with open(out_path, "w") as file:
        json.dump(figures, file, indent=1)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
