"""Argument checks shared by the layers of keras_apalu."""


def resolve(layer_name, getter, identifier, argument):
    """`getter(identifier)`, or a `ValueError` naming the layer and argument.

    Args:
        layer_name: the class name the message starts with, e.g. `"APALU"`.
        getter: a Keras lookup such as `keras.initializers.get`.
        identifier: what the user passed (a name, a config dict, an object,
            or `None`).
        argument: the argument's name, e.g. `"kernel_initializer"`.

    Returns:
        What `getter` returns.

    Raises:
        ValueError: "<layer_name>: could not interpret <argument>=...",
            with the getter's own message, when the getter rejects the
            identifier with a `ValueError` or `TypeError`.
    """
    try:
        return getter(identifier)
    except (ValueError, TypeError) as error:
        raise ValueError(
            f"{layer_name}: could not interpret {argument}={identifier!r}: {error}"
        ) from None
