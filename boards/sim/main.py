import app
import board

app.run(board.make_board())
