"""The tutorial's house prices: a single-layer neuron learns price per bedroom.

1, 2 and 3 bedrooms cost $100,000, $200,000 and $300,000 (normalised to
1.0, 2.0, 3.0); after training, the neuron predicts a 5-bedroom house.

    python examples/house_prices.py                  # the tutorial's run, exactly
    python examples/house_prices.py --all-houses     # train on all three houses
    python examples/house_prices.py --plot loss.png  # also save the loss curve

The tutorial's loop ran `for i in range(num_of_model_inputs)` with
num_of_model_inputs = len(x_input_values[0]), the number of inputs per
house (1), not the number of houses, so it trained on the 1-bedroom house
alone: that is why its loss shrinks by exactly 0.64 per epoch and it
predicts $498000.00. The default reproduces that run; --all-houses trains
on every house (and predicts about $500281.35).
"""
import _cli
from _plotting import pyplot, save

import pygrad
from pygrad.nn import SingleLayerNeuron, squared_error_loss


def train(model, x_input_values, y_output_values, num_of_model_inputs, learning_rate=0.05, epochs=100):
    losses = []
    for epoch in range(epochs):
        total_loss = 0
        for i in range(num_of_model_inputs):
            model_prediction = model(x_input_values[i])
            # pygrad's minus keeps both sides in the graph (the tutorial's
            # detached the target); the weights' gradients are the same.
            loss = squared_error_loss(model_prediction, y_output_values[i])
            model.zero_value()
            loss.backward()
            total_loss = total_loss + loss.data
            for p in model.weights_bias_parameters():
                p.data = p.data - (learning_rate * p.value)
        mean_squared_error = total_loss / num_of_model_inputs
        losses.append(mean_squared_error)
        print(f"Epoch {epoch}, Loss: {mean_squared_error}")
    return losses


def plot(losses, path):
    plt = pyplot()
    if plt is None:
        return
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.semilogy(losses)
    ax.set(xlabel="epoch", ylabel="mean squared error", title="house prices: training loss")
    save(fig, path)


def main():
    parser = _cli.Parser(__doc__, seed=0, plot="save the loss curve")   # (the tutorial draws no random numbers)
    parser.add_argument("--all-houses", action="store_true", help="train on all three houses, not the first only")
    parser.add_argument("--epochs", type=_cli.positive_int, default=100, help="training epochs")
    args = parser.parse_args()
    print(f"pygrad engine: {pygrad.get_engine()}")

    ML_Framework = pygrad.ML_Framework
    bedrooms = [1, 2, 3]
    prices = [100000 * b for b in bedrooms]
    normalized_prices = [p / 100000 for p in prices]
    x_input_values = [[ML_Framework(b)] for b in bedrooms]
    y_output_values = [ML_Framework(p) for p in normalized_prices]
    # The tutorial's quirk (see the docstring): 1 input per house, so 1 house.
    num_of_model_inputs = len(x_input_values) if args.all_houses else len(x_input_values[0])

    model = SingleLayerNeuron(1)
    print("Initial weights:", [w.data for w in model.weights])
    print("Initial bias:", model.bias.data)
    losses = train(model, x_input_values, y_output_values, num_of_model_inputs, epochs=args.epochs)

    predicted_price = model([ML_Framework(5)])
    predicted_price_denormalized = predicted_price.data * 100000
    print(f"Predicted price for a 5-bedroom house: ${predicted_price_denormalized:.2f}")
    if args.plot:
        plot(losses, args.plot)


if __name__ == "__main__":
    main()
